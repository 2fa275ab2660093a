using System.Globalization;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotpath.Storage.ClickHouse;

/// <summary>
/// Profiles in ClickHouse, over its HTTP interface. <c>profiles</c> holds metadata and the body (served
/// byte for byte), <c>profile_ids</c> finds a profile's sort key by id; the stack store holds each distinct
/// stack once (<c>stacks</c>: function names, leaf first, by hash) and per service, type, label set and
/// minute the summed values of each stack (<c>stack_samples</c>), so fleet-wide questions are one SQL query
/// (see <see cref="StackRows"/>); <c>pieces</c> and <c>bucket_pieces</c> hold pre-merged pprof of minutes,
/// 10 minutes and hours, which merges read where they hold exactly what is stored. All but <c>stacks</c> are
/// partitioned by day (retention drops whole days) and ordered for service/type/time. Concurrent writes are
/// batched into one RowBinary insert per table, the next batch forming while one is in flight.
/// </summary>
public sealed partial class ClickHouseProfileStore : IProfileStore, IRollupStatus, IAsyncDisposable
{
    private const string BackendName = "clickhouse";
    private const int MaxBatch = 512;
    private const int MaxPending = 4096;

    // While the schema cannot be made, requests fail at once for this long before the next attempt.
    private static readonly TimeSpan RetryStartAfter = TimeSpan.FromSeconds(2);

    private readonly HttpClient _http;
    private readonly TimeSpan _timeout;
    private readonly StartupGate _schema;
    private readonly string _db;
    private readonly GroupCommit<PendingWrite> _commits;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _bucketLoop;
    private int _disposed;

    public ClickHouseProfileStore(ClickHouseStoreOptions options, ILogger<ClickHouseProfileStore>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _db = options.Database;
        _timeout = options.Timeout;
        _http = new HttpClient { BaseAddress = new Uri(options.Url.TrimEnd('/') + "/"), Timeout = options.Timeout };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{options.User}:{options.Password}")));
        _schema = new StartupGate(CreateSchemaAsync, RetryStartAfter);
        _commits = new GroupCommit<PendingWrite>(BackendName, MaxPending, MaxBatch, new Batches(this));
        _bucketLoop = Task.Run(BucketLoopAsync);
    }

    public string Backend => BackendName;

    /// <summary>Answers when the schema is there and ClickHouse answers a query.</summary>
    public async Task ProbeAsync(CancellationToken cancellationToken) => await QueryAsync("SELECT 1", cancellationToken);

    private async Task CreateSchemaAsync(CancellationToken cancellationToken)
    {
        await SendCoreAsync("", new StringContent($"CREATE DATABASE IF NOT EXISTS {_db}"), cancellationToken);
        foreach (var table in Tables())
            await SendCoreAsync("", new StringContent(table), cancellationToken);
    }

    private IEnumerable<string> Tables()
    {
        yield return $"""
            CREATE TABLE IF NOT EXISTS {_db}.profiles (
                id String, service String, type UInt8, instance_id String,
                label_keys Array(String), label_values Array(String),
                created_at DateTime, created_nanos Int64, size UInt64, value Int64, body String
            ) ENGINE = MergeTree PARTITION BY toYYYYMMDD(created_at) ORDER BY (service, type, created_nanos, id)
            """;
        yield return $"""
            CREATE TABLE IF NOT EXISTS {_db}.profile_ids (id String, service String, type UInt8, created_at DateTime, created_nanos Int64)
            ENGINE = MergeTree PARTITION BY toYYYYMMDD(created_at) ORDER BY id
            """;
        yield return $"""
            CREATE TABLE IF NOT EXISTS {_db}.stacks (hash UInt64, frames Array(String))
            ENGINE = ReplacingMergeTree ORDER BY hash
            """;
        yield return $"""
            CREATE TABLE IF NOT EXISTS {_db}.stack_samples (
                service String, type UInt8, minute DateTime, label_keys Array(String), label_values Array(String),
                hash UInt64, sample_types Array(String), values Array(Int64)
            ) ENGINE = MergeTree PARTITION BY toYYYYMMDD(minute) ORDER BY (service, type, minute, hash)
            """;
        yield return $"""
            CREATE TABLE IF NOT EXISTS {_db}.pieces (
                service String, type UInt8, minute DateTime, label_keys Array(String), label_values Array(String),
                profiles UInt32, body String
            ) ENGINE = MergeTree PARTITION BY toYYYYMMDD(minute) ORDER BY (service, type, minute)
            """;
        yield return BucketPiecesTable;
    }

    public async Task<ProfileMeta> WriteAsync(NewProfile profile, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var meta = new ProfileMeta(profile.Id ?? ProfileId.New(), profile.Service, profile.Type, profile.InstanceId, profile.Labels,
            profile.CreatedAtUnixNanos, body.Length, profile.Value);
        // The decoded profile stays valid until this write completes: the write loop reads it, not this thread.
        await _commits.CommitAsync(new PendingWrite(meta, body.ToArray(), profile.Decoded));
        Volatile.Write(ref _writtenSincePass, 1);
        return meta;
    }

    /// <summary>
    /// Batches into ClickHouse, one insert at a time (ClickHouse 18.16 took fewer profiles per second with four
    /// batches in flight than with one, on 2 cores). A full batch may be encoded while the one before is still
    /// being inserted; if that one then fails, the stacks this one took for sent are sent after all.
    /// </summary>
    private sealed class Batches(ClickHouseProfileStore store) : IBatchCommitter<PendingWrite>
    {
        private readonly StackRows _rows = new();
        private int _failures;

        public object? Prepare(IReadOnlyList<PendingWrite> batch)
        {
            lock (_rows)
                return (_failures, _rows.Encode(batch.Select(w => (w.Meta, w.Decoded, (ReadOnlyMemory<byte>)w.Body))));
        }

        public async Task CommitAsync(IReadOnlyList<PendingWrite> batch, object? prepared)
        {
            var (failuresSeen, rows) = ((int, EncodedRows))prepared!;
            lock (_rows)
            {
                if (failuresSeen != _failures)
                {
                    // A batch before failed after this one was encoded: stacks this one took for sent were not stored.
                    _rows.Forget(rows);
                    rows = _rows.Encode(batch.Select(w => (w.Meta, w.Decoded, (ReadOnlyMemory<byte>)w.Body)));
                }
            }

            try
            {
                await store.InsertAsync(batch, rows);
            }
            catch (Exception e)
            {
                lock (_rows)
                {
                    _rows.Forget(rows);
                    _failures++;
                }

                Log.BatchFailed(store._logger, batch.Count, e);
                throw;
            }
        }
    }

    private async Task InsertAsync(IReadOnlyList<PendingWrite> batch, EncodedRows rows)
    {
        var profiles = new RowBinaryWriter();
        var ids = new RowBinaryWriter();
        foreach (var write in batch)
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
            profiles.Bytes(write.Body);
            ids.String(m.Id);
            ids.String(m.Service);
            ids.UInt8((byte)m.Type);
            ids.UInt32(createdAt);
            ids.Int64(m.CreatedAtUnixNanos);
        }

        // The stack store, the pieces and the id index first: a profile is findable only once everything about
        // it is in. A piece whose profiles then fail to land counts more than the profiles table: merges see
        // the difference and read that minute's raw profiles (OpenMergeAsync).
        await Task.WhenAll(
            InsertIfAnyAsync("stacks", rows.Stacks.Written),
            InsertIfAnyAsync("stack_samples", rows.Samples.Written),
            InsertIfAnyAsync("pieces", rows.Pieces.Written),
            InsertAsync("profile_ids", ids.Written));
        await InsertAsync("profiles", profiles.Written);
    }

    private Task InsertIfAnyAsync(string table, ReadOnlyMemory<byte> rows) => rows.Length > 0 ? InsertAsync(table, rows) : Task.CompletedTask;

    private Task InsertAsync(string table, ReadOnlyMemory<byte> rows) =>
        SendAsync($"?query={Uri.EscapeDataString($"INSERT INTO {_db}.{table} FORMAT RowBinary")}", new ReadOnlyMemoryContent(rows), default);

    private const string MetaColumns = "id, service, type, instance_id, label_keys, label_values, created_nanos, size, value";

    public async Task<IReadOnlyList<ProfileMeta>> FindAsync(ProfileQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var types = query.Type is { } t ? [(int)t] : ProfileTypes.All.Select(x => (int)x);
        var sql = new StringBuilder($"SELECT {MetaColumns} FROM {_db}.profiles WHERE service = {Literal(query.Service)}")
            .Append(CultureInfo.InvariantCulture, $" AND type IN ({string.Join(",", types)})")
            .Append(CultureInfo.InvariantCulture, $" AND created_at >= toDateTime({Seconds(query.FromUnixNanos)}) AND created_at <= toDateTime({Math.Min(Seconds(query.ToUnixNanos) + 1L, uint.MaxValue)})")
            .Append(CultureInfo.InvariantCulture, $" AND created_nanos >= {query.FromUnixNanos} AND created_nanos <= {query.ToUnixNanos}");
        AppendLabelFilter(sql, query.Labels);
        var order = query.Limit > 0 ? "DESC" : "ASC";
        sql.Append(CultureInfo.InvariantCulture, $" ORDER BY created_nanos {order}, id {order}");
        if (query.Limit > 0)
            sql.Append(CultureInfo.InvariantCulture, $" LIMIT {query.Limit}");
        var found = ReadMetas(await QueryAsync(sql.ToString(), cancellationToken));
        if (query.Limit > 0)
            found.Reverse();
        return found;
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
            var rows = await QueryAsync($"SELECT id, body FROM {_db}.profiles WHERE {KeyFilter(chunk.Distinct().ToList())}", cancellationToken);
            var bodies = ReadBodies(rows);
            foreach (var id in chunk)
            {
                if (bodies.TryGetValue(id, out var body))
                    yield return body;
            }
        }
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

    /// <summary>The series from the metadata rows of the range (one per profile).</summary>
    public Task<IReadOnlyList<SeriesPoint>> SeriesAsync(ProfileQuery query, long resolutionNanos, CancellationToken cancellationToken) =>
        SeriesPoint.FromFindAsync(this, query, cancellationToken);

    /// <summary>
    /// The whole hours, 10 minutes and minutes of the range from their pieces where they hold exactly what the
    /// profiles table has (BucketPieces.cs, CoverAsync); the edges of the range, and any bucket whose pieces
    /// disagree (a batch that failed half-way, a profile alone in its batch, a late write), from the raw
    /// bodies. No type, a limit, or no whole minute: raw bodies only.
    /// </summary>
    public async Task<MergeSource> OpenMergeAsync(ProfileQuery query, int maxRawProfiles, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        // Pieces are of minutes from 1970 on that DateTime holds (to 2106); a range elsewhere reads raw bodies.
        var from = Math.Max(query.FromUnixNanos, 0);
        var to = Math.Min(query.ToUnixNanos, (long)uint.MaxValue * 1_000_000_000);
        var wholeMinute = to >= NanosPerMinute && FloorDiv(from + NanosPerMinute - 1, NanosPerMinute) <= FloorDiv(to - NanosPerMinute + 1, NanosPerMinute);
        if (query.Type is null or ProfileType.Trace || query.Limit > 0 || !wholeMinute)
            return await MergeSource.FromFindAsync(this, query, maxRawProfiles, cancellationToken);

        var all = await FindAsync(query, cancellationToken);
        // Widest first: whole hours, whole 10 minutes, whole minutes; what no piece covers, from raw bodies.
        var bodies = new List<byte[]>();
        List<ProfileMeta> raw = [.. all];
        foreach (var width in BucketWidths)
        {
            (var covered, raw) = await CoverAsync(query, width, minutePieces: false, from, to, raw, cancellationToken);
            bodies.AddRange(covered);
        }

        (var minutes, raw) = await CoverAsync(query, 60, minutePieces: true, from, to, raw, cancellationToken);
        bodies.AddRange(minutes);
        var merged = bodies.ToAsyncEnumerable()
            .Concat(raw.Count > maxRawProfiles ? AsyncEnumerable.Empty<byte[]>() : OpenAsync([.. raw.Select(m => m.Id)], cancellationToken));
        return new MergeSource(all.Count, raw.Count, merged);
    }

    internal const long NanosPerMinute = 60_000_000_000;

    /// <summary>Rows whose label set holds every pair of the filter.</summary>
    private static void AppendLabelFilter(StringBuilder sql, IReadOnlyList<ProfileLabel> labels)
    {
        foreach (var label in labels)
            sql.Append(CultureInfo.InvariantCulture, $" AND arrayExists((k, v) -> k = {Literal(label.Key)} AND v = {Literal(label.Value)}, label_keys, label_values)");
    }

    /// <summary>A label set as one dictionary key (pieces and profiles of the same set compare equal).</summary>
    internal static string LabelKey(IReadOnlyList<ProfileLabel> labels) => string.Join('\0', labels.Select(l => l.Key + "=" + l.Value));

    internal static long FloorDiv(long value, long divisor) => Math.DivRem(value, divisor, out var rest) - (rest < 0 ? 1 : 0);

    /// <summary>Deletes raw profiles past the cutoff, with the stack rows and pieces of their days.</summary>
    public async Task<int> DeleteOlderThanAsync(long cutoffUnixNanos, long aggregateCutoffUnixNanos, CancellationToken cancellationToken)
    {
        var cutoffDay = int.Parse(UnixNanos.ToDateTimeOffset(cutoffUnixNanos).ToString("yyyyMMdd", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var rows = await QueryAsync(
            $"SELECT toUInt32(toYYYYMMDD(created_at)) AS day, toUInt32(count()) FROM {_db}.profiles GROUP BY day HAVING day < {cutoffDay} ORDER BY day", cancellationToken);
        var deleted = 0;
        var days = new List<uint>();
        for (var i = 0; i + 8 <= rows.Length; i += 8)
        {
            days.Add(BitConverter.ToUInt32(rows, i));
            deleted += (int)BitConverter.ToUInt32(rows, i + 4);
        }

        foreach (var day in days)
        {
            foreach (var table in new[] { "profiles", "profile_ids", "stack_samples", "pieces", "bucket_pieces" })
                await ExecuteAsync($"ALTER TABLE {_db}.{table} DROP PARTITION {day}", cancellationToken);
        }

        return deleted;
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

    private static Dictionary<string, byte[]> ReadBodies(byte[] rows)
    {
        var reader = new RowBinaryReader(rows);
        var bodies = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        while (!reader.End)
        {
            var id = reader.String();
            bodies[id] = reader.Bytes().ToArray();
        }

        return bodies;
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
        await _stopping.CancelAsync();
        await _bucketLoop;
        await _commits.DisposeAsync();
        _http.Dispose();
        _stopping.Dispose();
    }

    private sealed class PendingWrite(ProfileMeta meta, byte[] body, RawProfile? decoded)
    {
        public ProfileMeta Meta { get; } = meta;
        public byte[] Body { get; } = body;
        public RawProfile? Decoded { get; } = decoded;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "ClickHouse did not take a batch of {Count} writes; they are answered 503")]
        public static partial void BatchFailed(ILogger logger, int count, Exception exception);

        [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "Building ClickHouse's bucket pieces failed; the next pass tries again")]
        public static partial void BucketPassFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 302, Level = LogLevel.Debug, Message = "Built {Count} ClickHouse bucket pieces")]
        public static partial void BucketsBuilt(ILogger logger, int count);
    }
}
