using System.Globalization;
using System.Text;
using Hotpath.Pprof;

namespace Hotpath.Storage.ClickHouse;

/// <summary>
/// Bucket pieces: once an hour or a 10-minute bucket is over, any collector merges its profiles into one pprof
/// per label set and one for all label sets together (<c>bucket_pieces</c>, ReplacingMergeTree; reads take
/// the latest build of a bucket, so collectors that build the same bucket at once, or a rebuild, count once). A piece records how many profiles it
/// holds, so a merge uses it only while the profiles table still has exactly those; a late profile makes the
/// next pass build the bucket again, and until then it is read from finer pieces and raw bodies.
/// </summary>
public sealed partial class ClickHouseProfileStore
{
    /// <summary>The bucket widths in seconds, widest first: a merge takes whole hours, then whole 10 minutes.</summary>
    private static readonly long[] BucketWidths = [3600, 600];

    // A bucket is built once it has been over this long (late writes of agents' last uploads).
    private static readonly TimeSpan BucketSettle = TimeSpan.FromMinutes(2);

    // How far back a pass looks for buckets to build: older ones were built by earlier passes.
    private static readonly TimeSpan BucketLookBack = TimeSpan.FromDays(8);

    // How often a collector looks for buckets to build.
    private static readonly TimeSpan BucketPass = TimeSpan.FromSeconds(30);

    private long _pendingBuckets;
    private int _writtenSincePass;
    private int _uncounted;

    /// <summary>
    /// Buckets the last pass found to build and has not built yet, plus one while writes came that no pass
    /// has counted yet (those before a pass count until it has found what they made stale).
    /// </summary>
    public long PendingBuckets => Interlocked.Read(ref _pendingBuckets) + Volatile.Read(ref _writtenSincePass) + Volatile.Read(ref _uncounted);

    /// <summary>Not measured for ClickHouse (its own system.parts says); 0.</summary>
    public long RollupBytes => 0;

    public TimeSpan PassInterval => BucketPass;

    /// <summary>Builds the pieces of the buckets over by <paramref name="now"/> (<see cref="BuildBucketsAsync"/>).</summary>
    public Task<int> BuildPiecesAsync(DateTimeOffset now, CancellationToken cancellationToken) => BuildBucketsAsync(now, cancellationToken);

    // all_labels before bucket, and small granules: a merge reads the rows of one kind only, and their bodies
    // (tens of KB a row) without those of the rows beside them (a day's hour pieces: 1.3 MB, not 20).
    private string BucketPiecesTable => $"""
        CREATE TABLE IF NOT EXISTS {_db}.bucket_pieces (
            service String, type UInt8, width UInt32, bucket DateTime, all_labels UInt8, label_keys Array(String), label_values Array(String),
            profiles UInt32, built Int64, body String
        ) ENGINE = ReplacingMergeTree(built) PARTITION BY toYYYYMMDD(bucket)
        ORDER BY (service, type, width, all_labels, bucket, label_keys, label_values) SETTINGS index_granularity = 256
        """;

    /// <summary>Builds the pieces of every bucket over by <paramref name="now"/> whose pieces are missing or stale; returns how many buckets.</summary>
    public async Task<int> BuildBucketsAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _writtenSincePass, 0) != 0)
            Volatile.Write(ref _uncounted, 1);
        var stale = new List<(string Service, ProfileType Type, long Width, long Bucket)>();
        foreach (var width in BucketWidths)
        {
            var before = FloorDiv(UnixNanos.From(now - BucketSettle) / 1_000_000_000, width) * width;
            var since = Math.Max(0, FloorDiv(UnixNanos.From(now - BucketLookBack) / 1_000_000_000, width) * width);
            var built = await BuiltBucketsAsync(width, since, cancellationToken);
            var rows = await QueryAsync(
                $"SELECT service, type, toUInt32(intDiv(toUInt32(created_at), {width}) * {width}) AS b, toUInt32(count()) FROM {_db}.profiles " +
                $"WHERE type != {(int)ProfileType.Trace} AND created_at >= toDateTime({since}) AND created_at < toDateTime({before}) GROUP BY service, type, b", cancellationToken);
            var counts = new RowBinaryReader(rows);
            while (!counts.End)
            {
                var key = (counts.String(), (ProfileType)counts.UInt8(), (long)counts.UInt32());
                var stored = counts.UInt32();
                if (!built.TryGetValue(key, out var had) || had != stored)
                    stale.Add((key.Item1, key.Item2, width, key.Item3));
            }
        }

        Interlocked.Exchange(ref _pendingBuckets, stale.Count);
        Volatile.Write(ref _uncounted, 0);
        foreach (var (service, type, width, bucket) in stale)
        {
            await BuildBucketAsync(service, type, width, bucket, cancellationToken);
            Interlocked.Decrement(ref _pendingBuckets);
        }

        return stale.Count;
    }

    private async Task<Dictionary<(string, ProfileType, long), uint>> BuiltBucketsAsync(long width, long since, CancellationToken cancellationToken)
    {
        var reader = new RowBinaryReader(await QueryAsync(
            $"SELECT service, type, toUInt32(bucket), argMax(profiles, built) FROM {_db}.bucket_pieces " +
            $"WHERE width = {width} AND all_labels = 1 AND bucket >= toDateTime({since}) GROUP BY service, type, bucket",
            cancellationToken));
        var built = new Dictionary<(string, ProfileType, long), uint>();
        while (!reader.End)
            built[(reader.String(), (ProfileType)reader.UInt8(), reader.UInt32())] = reader.UInt32();
        return built;
    }

    private async Task BuildBucketAsync(string service, ProfileType type, long width, long bucketSeconds, CancellationToken cancellationToken)
    {
        var start = bucketSeconds * 1_000_000_000;
        var metas = await FindAsync(new ProfileQuery(service, type, start, start + width * 1_000_000_000 - 1, []), cancellationToken);
        // Another collector may have built it since this pass began: then there is nothing to do.
        var existing = await QueryAsync(
            $"SELECT argMax(profiles, built) FROM {_db}.bucket_pieces WHERE service = {Literal(service)} AND type = {(int)type} AND width = {width} " +
            $"AND bucket = toDateTime({bucketSeconds}) AND all_labels = 1 HAVING count() > 0", cancellationToken);
        if (existing.Length == 4 && BitConverter.ToUInt32(existing) == metas.Count)
            return;
        var sets = new Dictionary<string, (IReadOnlyList<ProfileLabel> Labels, ProfileMerger Merger)>(StringComparer.Ordinal);
        var all = new ProfileMerger();
        var decoder = new ProfileDecoder();
        var raw = new RawProfile();
        var index = 0;
        try
        {
            await foreach (var body in OpenAsync([.. metas.Select(m => m.Id)], cancellationToken))
            {
                var meta = metas[index++];
                decoder.Load(body, raw);
                var key = LabelKey(meta.Labels);
                if (!sets.TryGetValue(key, out var set))
                    sets[key] = set = (meta.Labels, new ProfileMerger());
                set.Merger.Add(raw);
                all.Add(raw);
            }
        }
        catch (Exception e) when (e is MalformedProfileException or IncompatibleProfilesException or ProfileTooLargeException)
        {
            return; // a bucket that does not merge is read raw, as a merge of it would fail anyway
        }

        if (index != metas.Count || all.Count == 0)
            return; // a body went missing meanwhile (retention, or a body read misaligned): next pass

        var rows = new RowBinaryWriter();
        var builtAt = DateTimeOffset.UtcNow.UtcTicks;
        void Row(bool allLabels, IReadOnlyList<ProfileLabel> labels, int profiles, Pprof.Proto.Profile merged)
        {
            rows.String(service);
            rows.UInt8((byte)type);
            rows.UInt32((uint)width);
            rows.UInt32((uint)bucketSeconds);
            rows.UInt8(allLabels ? (byte)1 : (byte)0);
            rows.Strings([.. labels.Select(l => l.Key)]);
            rows.Strings([.. labels.Select(l => l.Value)]);
            rows.UInt32((uint)profiles);
            rows.Int64(builtAt);
            // Gzipped as pprof is on the wire: a third of the raw bytes to send and keep, and the merge's decoder reads either.
            rows.Bytes(ProfileEncoder.ToGzipBytes(merged));
        }

        foreach (var (labels, merger) in sets.Values)
            Row(false, labels, merger.Count, merger.Build());
        Row(true, [], all.Count, all.Build());
        await InsertAsync("bucket_pieces", rows.Written);
    }

    /// <summary>The pieces a merge reads, what they hold, and the intervals whose profiles are read raw.</summary>
    private sealed record MergePlan(List<(long Profiles, byte[] Body)> Pieces, List<(long From, long To)> Open, Predicate<ProfileMeta> Covers);

    /// <summary>
    /// Covers the whole buckets of the range with pieces, hours first, then 10 minutes of the hours not
    /// covered: a bucket and label set (all label sets at once when the query filters on none) is taken from
    /// its latest piece when ClickHouse counts exactly the profiles the piece holds there. ClickHouse does the
    /// counting (GROUP BY bucket and label set), so planning a week reads counts, not a row per profile. The
    /// intervals not wholly covered (the edges, a bucket with a late profile or not built yet) are left open
    /// for raw bodies, less any profile of a covered bucket and label set in them.
    /// </summary>
    private async Task<MergePlan> PlanAsync(ProfileQuery query, long from, long to, CancellationToken cancellationToken)
    {
        var everything = query.Labels.Count == 0;
        var pieces = new List<(long Profiles, byte[] Body)>();
        var covered = new HashSet<(long Width, long Bucket, string Labels)>();
        var closed = new List<(long From, long To)>();
        var closedHours = new HashSet<long>();
        var hour = BucketWidths[0];
        foreach (var width in BucketWidths)
        {
            var nanos = width * 1_000_000_000;
            var first = FloorDiv(from + nanos - 1, nanos);
            var last = FloorDiv(to - nanos + 1, nanos);
            if (first > last)
                continue;
            // Only buckets with profiles (an empty one has nothing to cover, and the raw read of it finds
            // nothing) that no hour covers already; only their pieces are read.
            var counts = (await CountsAsync(query, width, first, last, everything, cancellationToken))
                .Where(c => width == hour || !closedHours.Contains(FloorDiv(c.Key * nanos, hour * 1_000_000_000))).ToList();
            if (counts.Count == 0)
                continue;
            var built = await PiecesAsync(query, width, [.. counts.Select(c => c.Key)], everything, cancellationToken);
            foreach (var (bucket, sets) in counts)
            {
                var start = bucket * nanos;
                var parent = FloorDiv(start, hour * 1_000_000_000);
                var whole = true;
                foreach (var (labels, count) in sets)
                {
                    if (width != hour && covered.Contains((hour, parent, labels)))
                        continue;
                    if (built.TryGetValue((bucket, labels), out var piece) && piece.Profiles == count)
                    {
                        covered.Add((width, bucket, labels));
                        pieces.Add((piece.Profiles, piece.Body));
                    }
                    else
                    {
                        whole = false;
                    }
                }

                if (!whole)
                    continue;
                closed.Add((start, start + nanos - 1));
                if (width == hour)
                    closedHours.Add(bucket);
            }
        }

        bool Covers(ProfileMeta m)
        {
            var labels = everything ? "" : LabelKey(m.Labels);
            return BucketWidths.Any(w => covered.Contains((w, FloorDiv(m.CreatedAtUnixNanos, w * 1_000_000_000), labels)));
        }

        return new MergePlan(pieces, Complement(closed, query.FromUnixNanos, query.ToUnixNanos), Covers);
    }

    /// <summary>What of [from, to] the closed intervals leave, as few intervals as possible.</summary>
    private static List<(long From, long To)> Complement(List<(long From, long To)> closed, long from, long to)
    {
        var open = new List<(long From, long To)>();
        var next = from;
        foreach (var (start, end) in closed.OrderBy(c => c.From))
        {
            if (start > next)
                open.Add((next, start - 1));
            next = Math.Max(next, end + 1);
        }

        if (next <= to)
            open.Add((next, to));
        return open;
    }

    /// <summary>How many profiles the query selects per whole bucket of one width and label set (or all of them).</summary>
    private async Task<Dictionary<long, List<(string Labels, long Count)>>> CountsAsync(
        ProfileQuery query, long width, long first, long last, bool everything, CancellationToken cancellationToken)
    {
        var nanos = width * 1_000_000_000;
        var labels = everything ? "" : ", label_keys, label_values";
        var sql = new StringBuilder($"SELECT toUInt32(intDiv(toUInt32(created_at), {width})) AS b{labels}, toInt64(count()) FROM {_db}.profiles");
        AppendWhere(sql, query with { FromUnixNanos = first * nanos, ToUnixNanos = (last + 1) * nanos - 1 });
        sql.Append(CultureInfo.InvariantCulture, $" GROUP BY b{labels}");
        var reader = new RowBinaryReader(await QueryAsync(sql.ToString(), cancellationToken));
        var counts = new Dictionary<long, List<(string, long)>>();
        while (!reader.End)
        {
            long bucket = reader.UInt32();
            var key = everything ? "" : LabelKey([.. reader.Strings().Zip(reader.Strings(), (k, v) => new ProfileLabel(k, v))]);
            var count = reader.Int64();
            if (!counts.TryGetValue(bucket, out var list))
                counts[bucket] = list = [];
            list.Add((key, count));
        }

        return counts;
    }

    /// <summary>The latest piece of each of the buckets of one width and label set the query selects (all label sets at once, or each).</summary>
    private async Task<Dictionary<(long Bucket, string Labels), (long Profiles, byte[] Body)>> PiecesAsync(
        ProfileQuery query, long width, IReadOnlyList<long> buckets, bool everything, CancellationToken cancellationToken)
    {
        // Not FINAL (it merges every part on one thread): rows a bucket's rebuild or a second builder left
        // beside each other are told apart here.
        var sql = new StringBuilder(
                $"SELECT toUInt32(bucket), label_keys, label_values, profiles, built, body FROM {_db}.bucket_pieces WHERE service = {Literal(query.Service)}" +
                $" AND type = {(int)query.Type!} AND width = {width} AND all_labels = {(everything ? 1 : 0)}")
            .Append(CultureInfo.InvariantCulture, $" AND bucket >= toDateTime({buckets.Min() * width}) AND bucket <= toDateTime({buckets.Max() * width})")
            .Append(" AND toUInt32(bucket) IN (").AppendJoin(",", buckets.Select(b => (b * width).ToString(CultureInfo.InvariantCulture))).Append(')');
        AppendLabelFilter(sql, query.Labels);
        var reader = new RowBinaryReader(await QueryAsync(sql.ToString(), cancellationToken));
        var pieces = new Dictionary<(long, string), (long Profiles, long Built, byte[] Body)>();
        while (!reader.End)
        {
            long bucket = reader.UInt32() / width;
            var labels = everything ? "" : LabelKey([.. reader.Strings().Zip(reader.Strings(), (k, v) => new ProfileLabel(k, v))]);
            if (everything)
            {
                reader.Strings();
                reader.Strings();
            }

            var profiles = reader.UInt32();
            var built = reader.Int64();
            var body = reader.Bytes().ToArray();
            if (!pieces.TryGetValue((bucket, labels), out var had) || had.Built < built)
                pieces[(bucket, labels)] = (profiles, built, body);
        }

        return pieces.ToDictionary(p => p.Key, p => (p.Value.Profiles, p.Value.Body));
    }
}
