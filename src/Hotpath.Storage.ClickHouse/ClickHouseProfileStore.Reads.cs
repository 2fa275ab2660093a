using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Hotpath.Pprof;
using Hotpath.Storage.Pieces;

namespace Hotpath.Storage.ClickHouse;

/// <summary>Finds, reads, series and merges: SQL over the profiles table and, for merges, the bucket pieces.</summary>
public sealed partial class ClickHouseProfileStore
{
    private const string MetaColumns = "id, service, type, instance_id, label_keys, label_values, created_nanos, size, value";

    public async Task<IReadOnlyList<ProfileMeta>> FindAsync(ProfileQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var sql = new StringBuilder($"SELECT {MetaColumns} FROM {_db}.profiles");
        AppendWhere(sql, query);
        var order = query.Limit > 0 ? "DESC" : "ASC";
        sql.Append(CultureInfo.InvariantCulture, $" ORDER BY created_nanos {order}, id {order}");
        // A filter (a selector's !=, =~, !~) is checked here on each row, so the limit then counts what passed.
        if (query.Limit > 0 && query.Filter is null)
            sql.Append(CultureInfo.InvariantCulture, $" LIMIT {query.Limit}");
        var found = ReadMetas(await QueryAsync(sql.ToString(), cancellationToken));
        if (query.Filter is not null)
        {
            found.RemoveAll(m => !query.MatchesLabels(m.Labels));
            if (query.Limit > 0 && found.Count > query.Limit)
                found.RemoveRange(query.Limit, found.Count - query.Limit);
        }

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

    /// <remarks>
    /// 200 ids a query, and the next chunks fetched while the caller takes these, a few at once: a merge of
    /// thousands of raw profiles (right after a burst, before the pieces are built) waits on ClickHouse and S3
    /// round trips, which overlap, rather than on each in turn.
    /// </remarks>
    public async IAsyncEnumerable<byte[]> OpenAsync(IReadOnlyList<string> ids, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        const int Ahead = 4;
        var chunks = ids.Where(id => ProfileId.IsWellFormed(id)).Chunk(200).ToList();
        var fetching = new Queue<Task<Dictionary<string, byte[]>>>();
        var fetched = 0;
        try
        {
            for (var i = 0; i < chunks.Count; i++)
            {
                while (fetching.Count < Ahead && fetched < chunks.Count)
                    fetching.Enqueue(FetchAsync(chunks[fetched++], cancellationToken));
                var bodies = await fetching.Dequeue();
                foreach (var id in chunks[i])
                {
                    if (bodies.TryGetValue(id, out var body))
                        yield return body;
                }
            }
        }
        finally
        {
            // A caller that stops early (a failed decode) leaves fetches in flight: wait for them, their failures included.
            while (fetching.TryDequeue(out var next))
            {
                try
                {
                    await next;
                }
                catch (Exception e) when (e is StorageUnavailableException or OperationCanceledException)
                {
                    // Nobody asked for these bodies any more.
                }
            }
        }
    }

    private async Task<Dictionary<string, byte[]>> FetchAsync(string[] chunk, CancellationToken cancellationToken)
    {
        var rows = await QueryAsync($"SELECT id, body, body_object, body_offset, size FROM {_db}.profiles WHERE {KeyFilter(chunk.Distinct().ToList())}", cancellationToken);
        return await ReadBodiesAsync(rows, cancellationToken);
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
        if (query.Limit > 0 || resolutionNanos <= 0 || query.Filter is not null)
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
        if (query.Limit > 0 || resolutionNanos <= 0 || query.Filter is not null)
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
    /// table has (<see cref="PieceIndex"/>); the edges of the range, and any bucket whose pieces disagree (a late
    /// write, a bucket not built yet), from the raw bodies. No type, or a limit: raw bodies only.
    /// </summary>
    public async Task<MergeSource> OpenMergeAsync(ProfileQuery query, int maxRawProfiles, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Type is null or ProfileType.Trace || query.Limit > 0)
            return await MergeSource.FromFindAsync(this, query, maxRawProfiles, cancellationToken);

        var plan = await new PiecePlanner<StoredBody>(new PieceIndex(this)).PlanAsync(query, cancellationToken);
        var raw = plan.Parts.Where(p => p.Raw).Select(p => p.Body.ProfileId!).ToList();
        var merged = plan.Parts.Where(p => !p.Raw).Select(p => p.Body.Piece!).ToAsyncEnumerable()
            .Concat(raw.Count > maxRawProfiles ? AsyncEnumerable.Empty<byte[]>() : OpenAsync(raw, cancellationToken));
        return new MergeSource(plan.Profiles, plan.RawProfiles, merged);
    }

    /// <summary>Rows whose label set holds every pair of the filter.</summary>
    private static void AppendLabelFilter(StringBuilder sql, IReadOnlyList<ProfileLabel> labels)
    {
        foreach (var label in labels)
            sql.Append(CultureInfo.InvariantCulture, $" AND arrayExists((k, v) -> k = {Literal(label.Key)} AND v = {Literal(label.Value)}, label_keys, label_values)");
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
}
