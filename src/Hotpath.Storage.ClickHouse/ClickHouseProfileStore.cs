using System.Globalization;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using Hotpath.Pprof;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotpath.Storage.ClickHouse;

/// <summary>
/// Profiles in ClickHouse, over its HTTP interface. <c>profiles</c> holds metadata and the body (served
/// byte for byte), <c>profile_ids</c> finds a profile's sort key by id; <c>bucket_pieces</c> hold pre-merged
/// pprof of 10 minutes and hours (BucketPieces.cs), which merges read where they hold exactly what is stored.
/// Every table is partitioned by day (retention drops whole days) and ordered for service/type/time.
/// Concurrent writes are batched into one RowBinary insert per table, the next batch forming while one is in
/// flight; a write parses nothing (the pieces are built from the stored bodies once a bucket is over).
/// Given an object store (S3), the bodies go there instead, a batch's bodies as one object read back by
/// range (<c>body_object</c>, <c>body_offset</c>), and ClickHouse holds metadata, index and pieces only.
/// </summary>
public sealed partial class ClickHouseProfileStore : IProfileStore, IRollupStatus, IPieceBuilder, IAsyncDisposable
{
    private const string BackendName = "clickhouse";
    private const int MaxBatch = 2048;
    private const int MaxPending = 4096;

    // While the schema cannot be made, requests fail at once for this long before the next attempt.
    private static readonly TimeSpan RetryStartAfter = TimeSpan.FromSeconds(2);

    private readonly HttpClient _http;
    private readonly TimeSpan _timeout;
    private readonly StartupGate _schema;
    private readonly string _db;
    private readonly GroupCommit<PendingWrite> _commits;
    private readonly ILogger _logger;
    private int _disposed;

    // Reads of bodies an object holds side by side are one ranged read when the gap between them is at most this.
    private const int MaxReadGap = 64 * 1024;

    private readonly IObjectStore? _bodies;

    /// <param name="bodies">Where bodies go instead of the profiles table; the store owns it and disposes it.</param>
    public ClickHouseProfileStore(ClickHouseStoreOptions options, ILogger<ClickHouseProfileStore>? logger = null, IObjectStore? bodies = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _bodies = bodies;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _db = options.Database;
        _timeout = options.Timeout;
        _http = new HttpClient { BaseAddress = new Uri(options.Url.TrimEnd('/') + "/"), Timeout = options.Timeout };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{options.User}:{options.Password}")));
        _schema = new StartupGate(CreateSchemaAsync, RetryStartAfter);
        _commits = new GroupCommit<PendingWrite>(BackendName, MaxPending, MaxBatch, new Batches(this));
    }

    public string Backend => BackendName;

    /// <summary>Answers when the schema is there and ClickHouse answers a query (and the object store, when bodies go there).</summary>
    public async Task ProbeAsync(CancellationToken cancellationToken)
    {
        await QueryAsync("SELECT 1", cancellationToken);
        if (_bodies is not null)
            await _bodies.ProbeAsync(cancellationToken);
    }

    private async Task CreateSchemaAsync(CancellationToken cancellationToken)
    {
        await SendCoreAsync("", new StringContent($"CREATE DATABASE IF NOT EXISTS {_db}"), cancellationToken);
        foreach (var table in Tables())
            await SendCoreAsync("", new StringContent(table), cancellationToken);
        // A profiles table from before bodies could live in an object store (18.16 has no ADD COLUMN IF NOT EXISTS).
        var has = await SendCoreAsync("", new StringContent(
            $"SELECT count() FROM system.columns WHERE database = {Literal(_db)} AND table = 'profiles' AND name = 'body_object' FORMAT TabSeparated"), cancellationToken);
        if (Encoding.ASCII.GetString(has).Trim() == "0")
            await SendCoreAsync("", new StringContent($"ALTER TABLE {_db}.profiles ADD COLUMN body_object String, ADD COLUMN body_offset UInt64"), cancellationToken);
    }

    private IEnumerable<string> Tables()
    {
        yield return $"""
            CREATE TABLE IF NOT EXISTS {_db}.profiles (
                id String, service String, type UInt8, instance_id String,
                label_keys Array(String), label_values Array(String),
                created_at DateTime, created_nanos Int64, size UInt64, value Int64, body String, body_object String, body_offset UInt64
            ) ENGINE = MergeTree PARTITION BY toYYYYMMDD(created_at) ORDER BY (service, type, created_nanos, id)
            """;
        yield return $"""
            CREATE TABLE IF NOT EXISTS {_db}.profile_ids (id String, service String, type UInt8, created_at DateTime, created_nanos Int64)
            ENGINE = MergeTree PARTITION BY toYYYYMMDD(created_at) ORDER BY id
            """;
        yield return BucketPiecesTable;
    }

    public async Task<ProfileMeta> WriteAsync(NewProfile profile, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var meta = new ProfileMeta(profile.Id ?? ProfileId.New(), profile.Service, profile.Type, profile.InstanceId, profile.Labels,
            profile.CreatedAtUnixNanos, body.Length, profile.Value);
        await _commits.CommitAsync(new PendingWrite(meta, body.ToArray()));
        Volatile.Write(ref _writtenSincePass, 1);
        return meta;
    }

    /// <summary>
    /// Batches into ClickHouse, one insert per table at a time (ClickHouse 18.16 took fewer profiles per second
    /// with four batches in flight than with one, on 2 cores).
    /// </summary>
    private sealed class Batches(ClickHouseProfileStore store) : IBatchCommitter<PendingWrite>
    {
        public object? Prepare(IReadOnlyList<PendingWrite> batch) => store.Encode(batch);

        public async Task CommitAsync(IReadOnlyList<PendingWrite> batch, object? prepared)
        {
            try
            {
                var (profiles, ids, bodies) = ((RowBinaryWriter, RowBinaryWriter, (string Key, byte[] Content)?))prepared!;
                // The bodies, then the id index: a profile is findable (and GET by id) only once all are in.
                if (bodies is var (key, content))
                    await store._bodies!.PutAsync(key, content, CancellationToken.None);
                await store.InsertAsync("profile_ids", ids.Written);
                await store.InsertAsync("profiles", profiles.Written);
            }
            catch (Exception e)
            {
                Log.BatchFailed(store._logger, batch.Count, e);
                throw;
            }
        }
    }

    private (RowBinaryWriter Profiles, RowBinaryWriter Ids, (string Key, byte[] Content)? Bodies) Encode(IReadOnlyList<PendingWrite> batch)
    {
        // Sized for the bodies and their metadata, so that a batch of thousands is not copied as the buffer doubles.
        var bodyBytes = batch.Sum(w => (long)w.Body.Length);
        var profiles = new RowBinaryWriter((int)Math.Min(int.MaxValue, (_bodies is null ? bodyBytes : 0) + batch.Count * 256L));
        var ids = new RowBinaryWriter();
        // One object per batch, named by the day it is written (retention deletes an object once no row refers to it).
        var key = _bodies is null ? "" : $"bodies/{DateTime.UtcNow:yyyyMMdd}/{ProfileId.New()}";
        var content = _bodies is null ? [] : new byte[bodyBytes];
        long offset = 0;
        // In the object, bodies lie in the order merges read them (a service and type, in time), so that a
        // merge's bodies are neighbours there and come in few ranged reads.
        var ordered = _bodies is null ? batch : [.. batch.OrderBy(w => w.Meta.Service, StringComparer.Ordinal).ThenBy(w => w.Meta.Type).ThenBy(w => w.Meta.CreatedAtUnixNanos)];
        foreach (var write in ordered)
        {
            var m = write.Meta;
            var createdAt = Seconds(m.CreatedAtUnixNanos);
            profiles.String(m.Id);
            profiles.String(m.Service);
            profiles.UInt8((byte)m.Type);
            profiles.String(m.InstanceId);
            profiles.Strings([.. m.Labels.Select(l => l.Key)]);
            profiles.Strings([.. m.Labels.Select(l => l.Value)]);
            profiles.UInt32(createdAt);
            profiles.Int64(m.CreatedAtUnixNanos);
            profiles.Int64(m.Size);
            profiles.Int64(m.Value);
            if (_bodies is null)
            {
                profiles.Bytes(write.Body);
                profiles.String("");
                profiles.Int64(0);
            }
            else
            {
                profiles.Bytes([]);
                profiles.String(key);
                profiles.Int64(offset);
                write.Body.CopyTo(content, offset);
                offset += write.Body.Length;
            }

            ids.String(m.Id);
            ids.String(m.Service);
            ids.UInt8((byte)m.Type);
            ids.UInt32(createdAt);
            ids.Int64(m.CreatedAtUnixNanos);
        }

        return (profiles, ids, _bodies is null ? null : (key, content));
    }

    private Task InsertAsync(string table, ReadOnlyMemory<byte> rows) =>
        SendAsync($"?query={Uri.EscapeDataString($"INSERT INTO {_db}.{table} FORMAT RowBinary")}", new ReadOnlyMemoryContent(rows), default);

    private const string MetaColumns = "id, service, type, instance_id, label_keys, label_values, created_nanos, size, value";

    public async Task<IReadOnlyList<ProfileMeta>> FindAsync(ProfileQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var sql = new StringBuilder($"SELECT {MetaColumns} FROM {_db}.profiles");
        AppendWhere(sql, query);
        var order = query.Limit > 0 ? "DESC" : "ASC";
        sql.Append(CultureInfo.InvariantCulture, $" ORDER BY created_nanos {order}, id {order}");
        if (query.Limit > 0)
            sql.Append(CultureInfo.InvariantCulture, $" LIMIT {query.Limit}");
        var found = ReadMetas(await QueryAsync(sql.ToString(), cancellationToken));
        if (query.Limit > 0)
            found.Reverse();
        return found;
    }

    /// <summary>
    /// The rows a query selects: service, types, time (the seconds column first, which prunes partitions and
    /// the sort key) and labels; with <paramref name="within"/>, only those in one of its intervals.
    /// </summary>
    private static void AppendWhere(StringBuilder sql, ProfileQuery query, IReadOnlyList<(long From, long To)>? within = null)
    {
        var types = query.Type is { } t ? [(int)t] : ProfileTypes.All.Select(x => (int)x);
        sql.Append(CultureInfo.InvariantCulture, $" WHERE service = {Literal(query.Service)} AND type IN ({string.Join(",", types)})")
            .Append(CultureInfo.InvariantCulture, $" AND created_at >= toDateTime({Seconds(query.FromUnixNanos)}) AND created_at <= toDateTime({Math.Min(Seconds(query.ToUnixNanos) + 1L, uint.MaxValue)})")
            .Append(CultureInfo.InvariantCulture, $" AND created_nanos >= {query.FromUnixNanos} AND created_nanos <= {query.ToUnixNanos}");
        if (within is not null)
            sql.Append(" AND (").AppendJoin(" OR ", within.Select(w => string.Create(CultureInfo.InvariantCulture, $"(created_nanos >= {w.From} AND created_nanos <= {w.To})"))).Append(')');
        AppendLabelFilter(sql, query.Labels);
    }

    public async Task<IReadOnlyList<ProfileMeta>> GetAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var wanted = ids.Where(id => ProfileId.IsWellFormed(id)).Distinct().ToList();
        if (wanted.Count == 0)
            return [];
        var byId = ReadMetas(await QueryAsync($"SELECT {MetaColumns} FROM {_db}.profiles WHERE {KeyFilter(wanted)}", cancellationToken))
            .ToDictionary(m => m.Id, StringComparer.Ordinal);
        return [.. ids.Where(byId.ContainsKey).Select(id => byId[id])];
    }

    public async IAsyncEnumerable<byte[]> OpenAsync(IReadOnlyList<string> ids, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var chunk in ids.Where(id => ProfileId.IsWellFormed(id)).Chunk(200))
        {
            var rows = await QueryAsync($"SELECT id, body, body_object, body_offset, size FROM {_db}.profiles WHERE {KeyFilter(chunk.Distinct().ToList())}", cancellationToken);
            var bodies = await ReadBodiesAsync(rows, cancellationToken);
            foreach (var id in chunk)
            {
                if (bodies.TryGetValue(id, out var body))
                    yield return body;
            }
        }
    }

    /// <summary>The bodies of the rows: in the row, or read from their objects, neighbours in one object in one ranged read.</summary>
    private async Task<Dictionary<string, byte[]>> ReadBodiesAsync(byte[] rows, CancellationToken cancellationToken)
    {
        var bodies = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var elsewhere = new List<(string Id, string Object, long Offset, int Size)>();
        var reader = new RowBinaryReader(rows);
        while (!reader.End)
        {
            var id = reader.String();
            var body = reader.Bytes();
            var inObject = reader.String();
            var offset = reader.Int64();
            var size = reader.Int64();
            if (inObject.Length == 0)
                bodies[id] = body.ToArray();
            else
                elsewhere.Add((id, inObject, offset, (int)size));
        }

        if (elsewhere.Count == 0)
            return bodies;
        var reads = new List<(string Object, long Offset, long End, List<(string Id, long Offset, int Size)> Bodies)>();
        foreach (var body in elsewhere.OrderBy(e => e.Object, StringComparer.Ordinal).ThenBy(e => e.Offset))
        {
            if (reads.Count > 0 && reads[^1].Object == body.Object && body.Offset - reads[^1].End <= MaxReadGap)
            {
                var last = reads[^1];
                last.Bodies.Add((body.Id, body.Offset, body.Size));
                reads[^1] = last with { End = Math.Max(last.End, body.Offset + body.Size) };
            }
            else
            {
                reads.Add((body.Object, body.Offset, body.Offset + body.Size, [(body.Id, body.Offset, body.Size)]));
            }
        }

        var read = await Task.WhenAll(reads.Select(r => _bodies!.ReadAsync(r.Object, r.Offset, (int)(r.End - r.Offset), cancellationToken)));
        for (var i = 0; i < reads.Count; i++)
        {
            if (read[i] is not { } bytes)
                continue; // the object is gone (retention): as a missing row
            foreach (var (id, offset, size) in reads[i].Bodies)
                bodies[id] = bytes.AsSpan((int)(offset - reads[i].Offset), size).ToArray();
        }

        return bodies;
    }

    /// <summary>Rows by id, through the id table, so that the main table's sort key prunes the read.</summary>
    private string KeyFilter(IReadOnlyCollection<string> ids)
    {
        var list = string.Join(",", ids.Select(Literal));
        return $"(service, type, created_nanos) IN (SELECT service, type, created_nanos FROM {_db}.profile_ids WHERE id IN ({list})) AND id IN ({list})";
    }

    public async Task<IReadOnlyList<string>> ListServicesAsync(CancellationToken cancellationToken)
    {
        var rows = await QueryAsync($"SELECT DISTINCT service FROM {_db}.profiles ORDER BY service", cancellationToken);
        var reader = new RowBinaryReader(rows);
        var services = new List<string>();
        while (!reader.End)
            services.Add(reader.String());
        return services;
    }

    public async Task<IReadOnlyList<ProfileLabel>> ListLabelsAsync(string service, CancellationToken cancellationToken)
    {
        var rows = await QueryAsync(
            $"SELECT DISTINCT k, v FROM {_db}.profiles ARRAY JOIN label_keys AS k, label_values AS v WHERE service = {Literal(service)} ORDER BY k, v", cancellationToken);
        var reader = new RowBinaryReader(rows);
        var labels = new List<ProfileLabel>();
        while (!reader.End)
            labels.Add(new ProfileLabel(reader.String(), reader.String()));
        return labels;
    }

    /// <summary>
    /// The series counted by ClickHouse: per interval of the resolution, how many profiles start in it and
    /// their summed main value (one GROUP BY, so 30 days are as quick as one); with a limit, one point per profile.
    /// </summary>
    public async Task<IReadOnlyList<SeriesPoint>> SeriesAsync(ProfileQuery query, long resolutionNanos, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Limit > 0 || resolutionNanos <= 0)
            return await SeriesPoint.FromFindAsync(this, query, cancellationToken);
        var sql = new StringBuilder($"SELECT toInt64(intDiv(created_nanos, {resolutionNanos}) * {resolutionNanos}) AS t, toInt64(count()), toInt64(sum(value)) FROM {_db}.profiles");
        AppendWhere(sql, query);
        sql.Append(" GROUP BY t");
        var reader = new RowBinaryReader(await QueryAsync(sql.ToString(), cancellationToken));
        var points = new List<SeriesPoint>();
        while (!reader.End)
        {
            var time = reader.Int64();
            var profiles = (int)reader.Int64();
            points.Add(new SeriesPoint(Math.Max(time, query.FromUnixNanos), profiles, reader.Int64()));
        }

        return points;
    }

    /// <summary>The series of each value of the key, counted by ClickHouse in one GROUP BY of value and interval.</summary>
    public async Task<IReadOnlyList<LabeledSeriesPoint>> SeriesByLabelAsync(ProfileQuery query, string key, long resolutionNanos, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Limit > 0 || resolutionNanos <= 0)
            return await LabeledSeriesPoint.FromFindAsync(this, query, key, cancellationToken);
        var sql = new StringBuilder($"SELECT label_values[indexOf(label_keys, {Literal(key)})] AS key_value, toInt64(intDiv(created_nanos, {resolutionNanos}) * {resolutionNanos}) AS point_time, ")
            .Append(CultureInfo.InvariantCulture, $"toInt64(count()), toInt64(sum(value)) FROM {_db}.profiles");
        AppendWhere(sql, query);
        // Aliases other than the label filter's lambda parameters (k, v), which ClickHouse 18.16 would take for them.
        sql.Append(CultureInfo.InvariantCulture, $" AND has(label_keys, {Literal(key)}) GROUP BY key_value, point_time");
        var reader = new RowBinaryReader(await QueryAsync(sql.ToString(), cancellationToken));
        var points = new List<LabeledSeriesPoint>();
        while (!reader.End)
        {
            var value = reader.String();
            var time = reader.Int64();
            var profiles = (int)reader.Int64();
            points.Add(new LabeledSeriesPoint(value, new SeriesPoint(Math.Max(time, query.FromUnixNanos), profiles, reader.Int64())));
        }

        return points;
    }

    /// <summary>
    /// The whole hours and 10 minutes of the range from their pieces where they hold exactly what the profiles
    /// table has (BucketPieces.cs, CoverAsync); the edges of the range, and any bucket whose pieces disagree (a
    /// late write, a bucket not built yet), from the raw bodies. No type, a limit, or no whole 10 minutes: raw
    /// bodies only.
    /// </summary>
    public async Task<MergeSource> OpenMergeAsync(ProfileQuery query, int maxRawProfiles, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        // Pieces are of buckets from 1970 on that DateTime holds (to 2106); a range elsewhere reads raw bodies.
        var from = Math.Max(query.FromUnixNanos, 0);
        var to = Math.Min(query.ToUnixNanos, (long)uint.MaxValue * 1_000_000_000);
        var finest = BucketWidths[^1] * 1_000_000_000;
        var wholeBucket = to >= finest && FloorDiv(from + finest - 1, finest) <= FloorDiv(to - finest + 1, finest);
        if (query.Type is null or ProfileType.Trace || query.Limit > 0 || !wholeBucket)
            return await MergeSource.FromFindAsync(this, query, maxRawProfiles, cancellationToken);

        var plan = await PlanAsync(query, from, to, cancellationToken);
        var raw = plan.Open.Count == 0 ? [] : await FindWithinAsync(query, plan.Open, cancellationToken);
        raw.RemoveAll(plan.Covers);
        var merged = plan.Pieces.Select(p => p.Body).ToAsyncEnumerable()
            .Concat(raw.Count > maxRawProfiles ? AsyncEnumerable.Empty<byte[]>() : OpenAsync([.. raw.Select(m => m.Id)], cancellationToken));
        return new MergeSource((int)plan.Pieces.Sum(p => p.Profiles) + raw.Count, raw.Count, merged);
    }

    private async Task<List<ProfileMeta>> FindWithinAsync(ProfileQuery query, IReadOnlyList<(long From, long To)> within, CancellationToken cancellationToken)
    {
        var sql = new StringBuilder($"SELECT {MetaColumns} FROM {_db}.profiles");
        AppendWhere(sql, query, within);
        sql.Append(" ORDER BY created_nanos, id");
        return ReadMetas(await QueryAsync(sql.ToString(), cancellationToken));
    }

    /// <summary>Rows whose label set holds every pair of the filter.</summary>
    private static void AppendLabelFilter(StringBuilder sql, IReadOnlyList<ProfileLabel> labels)
    {
        foreach (var label in labels)
            sql.Append(CultureInfo.InvariantCulture, $" AND arrayExists((k, v) -> k = {Literal(label.Key)} AND v = {Literal(label.Value)}, label_keys, label_values)");
    }

    /// <summary>A label set as one dictionary key (pieces and profiles of the same set compare equal, no two sets alike).</summary>
    private static string LabelKey(IReadOnlyList<ProfileLabel> labels) => LabelSetKey.Encode(labels);

    private static long FloorDiv(long value, long divisor) => Math.DivRem(value, divisor, out var rest) - (rest < 0 ? 1 : 0);

    /// <summary>Deletes raw profiles past the cutoff, with the pieces of their days.</summary>
    public async Task<int> DeleteOlderThanAsync(long cutoffUnixNanos, long aggregateCutoffUnixNanos, CancellationToken cancellationToken)
    {
        var cutoffDay = int.Parse(UnixNanos.ToDateTimeOffset(cutoffUnixNanos).ToString("yyyyMMdd", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var rows = await QueryAsync(
            // A day goes whole, once nothing in it was written within the retention (a late arrival keeps its day).
            $"SELECT toUInt32(toYYYYMMDD(created_at)) AS day, toUInt32(count()) FROM {_db}.profiles GROUP BY day " +
            $"HAVING day < {cutoffDay} AND max(id) < {Literal(ProfileId.FirstAt(cutoffUnixNanos))} ORDER BY day", cancellationToken);
        var deleted = 0;
        var days = new List<uint>();
        for (var i = 0; i + 8 <= rows.Length; i += 8)
        {
            days.Add(BitConverter.ToUInt32(rows, i));
            deleted += (int)BitConverter.ToUInt32(rows, i + 4);
        }

        var objects = _bodies is null || days.Count == 0 ? [] : await ObjectsAsync($"toYYYYMMDD(created_at) IN ({string.Join(",", days)})", cancellationToken);
        foreach (var day in days)
        {
            foreach (var table in new[] { "profiles", "profile_ids", "bucket_pieces" })
                await ExecuteAsync($"ALTER TABLE {_db}.{table} DROP PARTITION {day}", cancellationToken);
        }

        if (objects.Count > 0)
        {
            // An object may hold bodies of a later day too (a batch across midnight): those stay.
            objects.ExceptWith(await ObjectsAsync($"body_object IN ({string.Join(",", objects.Select(Literal))})", cancellationToken));
            await _bodies!.DeleteAsync(objects, cancellationToken);
        }

        return deleted;
    }

    private async Task<HashSet<string>> ObjectsAsync(string where, CancellationToken cancellationToken)
    {
        var reader = new RowBinaryReader(await QueryAsync($"SELECT DISTINCT body_object FROM {_db}.profiles WHERE body_object != '' AND {where}", cancellationToken));
        var objects = new HashSet<string>(StringComparer.Ordinal);
        while (!reader.End)
            objects.Add(reader.String());
        return objects;
    }

    private static List<ProfileMeta> ReadMetas(byte[] rows)
    {
        var reader = new RowBinaryReader(rows);
        var metas = new List<ProfileMeta>();
        while (!reader.End)
        {
            var id = reader.String();
            var service = reader.String();
            var type = (ProfileType)reader.UInt8();
            var instance = reader.String();
            var keys = reader.Strings();
            var values = reader.Strings();
            metas.Add(new ProfileMeta(id, service, type, instance, [.. keys.Zip(values, (k, v) => new ProfileLabel(k, v))],
                reader.Int64(), reader.Int64(), reader.Int64()));
        }

        return metas;
    }

    private Task<byte[]> QueryAsync(string sql, CancellationToken cancellationToken) =>
        SendAsync("", new StringContent(sql + " FORMAT RowBinary"), cancellationToken);

    private Task<byte[]> ExecuteAsync(string sql, CancellationToken cancellationToken) => SendAsync("", new StringContent(sql), cancellationToken);

    private async Task<byte[]> SendAsync(string pathAndQuery, HttpContent content, CancellationToken cancellationToken)
    {
        await _schema.WaitAsync(cancellationToken);
        return await SendCoreAsync(pathAndQuery, content, cancellationToken);
    }

    /// <summary>One call, bounded by Storage:Timeout (the client's timeout); failures become "unavailable".</summary>
    private async Task<byte[]> SendCoreAsync(string pathAndQuery, HttpContent content, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.PostAsync(pathAndQuery, content, cancellationToken);
        }
        catch (TaskCanceledException e) when (e.InnerException is TimeoutException)
        {
            throw new StorageUnavailableException(BackendName, $"ClickHouse did not answer within {_timeout.TotalSeconds:0.#} s (Storage:Timeout)", e);
        }
        catch (HttpRequestException e)
        {
            throw new StorageUnavailableException(BackendName, "ClickHouse is unreachable", e);
        }

        using (response)
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                var text = Encoding.UTF8.GetString(bytes);
                throw new StorageUnavailableException(BackendName, $"ClickHouse answered {(int)response.StatusCode}: {text[..Math.Min(300, text.Length)].Trim()}");
            }

            return bytes;
        }
    }

    /// <summary>A ClickHouse string literal: backslash and quote escaped.</summary>
    private static string Literal(string value) => "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";

    private static uint Seconds(long unixNanos) => (uint)Math.Clamp(unixNanos / 1_000_000_000, 0, uint.MaxValue);

    public async ValueTask DisposeAsync()
    {
        // Several service registrations may share this instance; only the first dispose does the work.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _commits.DisposeAsync();
        _http.Dispose();
        (_bodies as IDisposable)?.Dispose();
    }

    private sealed class PendingWrite(ProfileMeta meta, byte[] body)
    {
        public ProfileMeta Meta { get; } = meta;
        public byte[] Body { get; } = body;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "ClickHouse did not take a batch of {Count} writes; they are answered 503")]
        public static partial void BatchFailed(ILogger logger, int count, Exception exception);
    }
}
