using Hotpath.Pprof;
using Microsoft.Data.Sqlite;

namespace Hotpath.Storage.Sqlite;

/// <summary>
/// The time buckets of the pre-merged pieces: minute, ten minutes, hour and day, each bucket starting at
/// a multiple of its width in Unix nanoseconds (UTC), so that each level's buckets nest in the next.
/// </summary>
internal static class RollupLevel
{
    public const int Minute = 0;
    public const int Day = 3;

    private static readonly long[] Widths = [60L * 1_000_000_000, 600L * 1_000_000_000, 3_600L * 1_000_000_000, 86_400L * 1_000_000_000];

    /// <summary>
    /// The label set of a service's and type's every profile, whatever its labels: the pieces that answer a
    /// merge without a label filter. An encoded label set never reads so (it is empty or starts with a digit).
    /// </summary>
    public const string AllLabels = "*";

    public static long Width(int level) => Widths[level];

    /// <summary>The start of the bucket that holds <paramref name="time"/>, rounding down for times before 1970 too.</summary>
    public static long BucketOf(int level, long time)
    {
        var width = Widths[level];
        var rest = time % width;
        return rest < 0 ? time - rest - width : time - rest;
    }
}

/// <summary>
/// A piece to merge: a pre-merged body, or a raw profile's place in the body log; with the time it
/// starts at, so that a merge reads pieces in time order.
/// </summary>
/// <param name="Labels">The label set (LabelSetKey) whose piece or raw profile this is.</param>
internal readonly record struct MergePiece(long Time, byte[]? Body, long Segment, long Offset, int Length, int Profiles, long Value, string Labels = "");

/// <summary>
/// Plans a merge of a selection over the pre-merged pieces: per label set that the filter matches, the
/// coarsest clean pieces that fit inside the range, finer ones towards its edges, and raw profiles for
/// what no piece covers (the partial minutes at the edges, and buckets that are dirty: written since their
/// piece was built). A clean bucket without a piece holds no profiles, so nothing but dirty buckets and
/// edges is ever descended into.
/// </summary>
/// <param name="withBodies">False for a series, which needs each piece's counts and not its body.</param>
internal sealed class MergePlanner(SqliteConnection connection, SqliteTransaction transaction, bool withBodies = true)
{
    private readonly List<MergePiece> _pieces = [];

    public int Profiles { get; private set; }

    public int RawProfiles { get; private set; }

    public IReadOnlyList<MergePiece> Pieces => _pieces;

    /// <summary>Plans with pieces no wider than <paramref name="maxWidth"/> nanoseconds (a series needs buckets of its step or finer).</summary>
    /// <param name="eachLabelSet">From the pieces of each label set the query selects, never the all-labels set's: to group by a label.</param>
    public void Plan(ProfileQuery query, long maxWidth = long.MaxValue, bool eachLabelSet = false)
    {
        var top = RollupLevel.Minute;
        while (top < RollupLevel.Day && RollupLevel.Width(top + 1) <= maxWidth)
            top++;
        var type = (int)query.Type!.Value;
        foreach (var (setId, labels) in LabelSets(query.Service, type))
        {
            // Without a filter the all-labels pieces answer alone; with one, each label set that has it does.
            if (query.Labels.Count == 0 && !eachLabelSet
                    ? labels != RollupLevel.AllLabels
                    : labels == RollupLevel.AllLabels || !query.MatchesLabels(LabelSetKey.Decode(labels)))
                continue;
            // [from, to] is inclusive; buckets are half open.
            var end = query.ToUnixNanos == long.MaxValue ? long.MaxValue : query.ToUnixNanos + 1;
            Cover(setId, query.Service, type, labels, top, query.FromUnixNanos, end);
        }

        _pieces.Sort((a, b) => a.Time.CompareTo(b.Time));
    }

    private List<(long Id, string Labels)> LabelSets(string service, int type)
    {
        using var command = Command("SELECT id, labels FROM label_sets WHERE service = $service AND type = $type");
        command.Parameters.AddWithValue("$service", service);
        command.Parameters.AddWithValue("$type", type);
        var sets = new List<(long, string)>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
            sets.Add((reader.GetInt64(0), reader.GetString(1)));
        return sets;
    }

    /// <summary>Covers [from, end) of one label set at <paramref name="level"/> or finer.</summary>
    private void Cover(long setId, string service, int type, string labels, int level, long from, long end)
    {
        if (from >= end)
            return;
        var width = RollupLevel.Width(level);
        // Only whole buckets can come from this level's pieces; the rest is finer work.
        var firstWhole = RollupLevel.BucketOf(level, from) == from ? from : Saturating.Add(RollupLevel.BucketOf(level, from), width);
        var endWhole = end == long.MaxValue ? RollupLevel.BucketOf(level, end - width) : RollupLevel.BucketOf(level, end);
        if (firstWhole >= endWhole)
        {
            Finer(setId, service, type, labels, level, from, end);
            return;
        }

        Finer(setId, service, type, labels, level, from, firstWhole);
        var (pieces, dirty) = Load(setId, level, firstWhole, endWhole);
        foreach (var bucket in dirty)
            Finer(setId, service, type, labels, level, bucket, bucket + width);
        foreach (var piece in pieces)
        {
            if (dirty.Contains(piece.Time))
                continue;
            if (piece.Length < 0)
                Finer(setId, service, type, labels, level, piece.Time, piece.Time + width); // could not be merged: its parts can
            else
                Add(piece, labels);
        }

        Finer(setId, service, type, labels, level, endWhole, end);
    }

    private void Finer(long setId, string service, int type, string labels, int level, long from, long end)
    {
        if (from >= end)
            return;
        if (level > RollupLevel.Minute)
            Cover(setId, service, type, labels, level - 1, from, end);
        else
            Raw(service, type, labels, from, end);
    }

    private void Add(MergePiece piece, string labels)
    {
        piece = piece with { Labels = labels };
        _pieces.Add(piece);
        Profiles += piece.Profiles;
        if (piece.Length > 0)
            RawProfiles++;
    }

    private (List<MergePiece> Pieces, HashSet<long> Dirty) Load(long setId, int level, long from, long end)
    {
        var pieces = new List<MergePiece>();
        using (var command = Command($"""
            SELECT r.bucket, r.profiles, r.value, r.body IS NOT NULL, {(withBodies ? "r.body" : "NULL")}, p.segment, p.body_offset, p.size
            FROM rollups r LEFT JOIN profiles p ON p.seq = r.seq
            WHERE r.set_id = $set AND r.level = $level AND r.bucket >= $from AND r.bucket < $end
            """))
        {
            AddRange(command, setId, level, from, end);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var bucket = reader.GetInt64(0);
                var (profiles, value) = (reader.GetInt32(1), reader.GetInt64(2));
                if (reader.GetBoolean(3))
                    pieces.Add(new MergePiece(bucket, withBodies ? (byte[])reader.GetValue(4) : null, 0, 0, 0, profiles, value));
                else if (!reader.IsDBNull(5))
                    pieces.Add(new MergePiece(bucket, null, reader.GetInt64(5), reader.GetInt64(6), reader.GetInt32(7), 1, value));
                else
                    pieces.Add(new MergePiece(bucket, null, 0, 0, -1, 0, 0)); // unmergeable, or its raw profile is gone
            }
        }

        var dirty = new HashSet<long>();
        using (var command = Command("SELECT bucket FROM rollup_dirty WHERE set_id = $set AND level = $level AND bucket >= $from AND bucket < $end"))
        {
            AddRange(command, setId, level, from, end);
            using var reader = command.ExecuteReader();
            while (reader.Read())
                dirty.Add(reader.GetInt64(0));
        }

        return (pieces, dirty);
    }

    private void Raw(string service, int type, string labels, long from, long end)
    {
        using var command = Command("""
            SELECT created_at, segment, body_offset, size, value FROM profiles
            WHERE service = $service AND type = $type AND created_at >= $from AND created_at <= $last AND ($labels = '*' OR labels = $labels)
            """);
        command.Parameters.AddWithValue("$service", service);
        command.Parameters.AddWithValue("$type", type);
        command.Parameters.AddWithValue("$from", from);
        command.Parameters.AddWithValue("$last", end == long.MaxValue ? long.MaxValue : end - 1);
        command.Parameters.AddWithValue("$labels", labels);
        using var reader = command.ExecuteReader();
        while (reader.Read())
            Add(new MergePiece(reader.GetInt64(0), null, reader.GetInt64(1), reader.GetInt64(2), reader.GetInt32(3), 1, reader.GetInt64(4)), labels);
    }

    private static void AddRange(SqliteCommand command, long setId, int level, long from, long end)
    {
        command.Parameters.AddWithValue("$set", setId);
        command.Parameters.AddWithValue("$level", level);
        command.Parameters.AddWithValue("$from", from);
        command.Parameters.AddWithValue("$end", end);
    }

    private SqliteCommand Command(string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }
}

/// <summary>
/// Builds the pieces of dirty buckets, finest first: a minute from its raw profiles, an hour from its
/// minutes, a day from its hours, each once none of its parts is dirty. A minute of one profile keeps a
/// pointer to it instead of a copy. A bucket's dirty mark carries the sequence number of the last profile
/// that touched it and is cleared only if no later one has, so a profile written while its bucket is being
/// built leaves the bucket dirty for the next pass. Marks are written in the profile's own transaction, so
/// after a crash the pieces still agree with what was acknowledged.
/// </summary>
internal sealed class RollupBuilder(SqliteConnection connection, BodyLog log, ProfileDecoder decoder, IngestFolds folds)
{
    /// <summary>
    /// A bucket is built once no write has marked it for this long: one that writes keep reaching (a client
    /// that stamps every profile with the same old time) would otherwise be rebuilt, whole, on every pass.
    /// Merges read such a bucket's raw profiles meanwhile.
    /// </summary>
    public const long SettleNanos = 2_000_000_000;

    private readonly RawProfile _raw = new();
    private readonly Dictionary<long, (string Service, int Type, string Labels)> _sets = [];

    /// <summary>Builds every bucket that can be built now (settled ones only, unless told); returns how many pieces were written.</summary>
    public int BuildPending(long nowUnixNanos, bool settledOnly)
    {
        var built = 0;
        for (var level = RollupLevel.Minute; level <= RollupLevel.Day; level++)
        {
            foreach (var (setId, bucket, generation) in Buildable(level, nowUnixNanos, settledOnly ? nowUnixNanos - SettleNanos : long.MaxValue))
            {
                Build(setId, level, bucket, generation);
                built++;
            }
        }

        folds.DropOlderThan(nowUnixNanos);
        return built;
    }

    private List<(long Set, long Bucket, long Generation)> Buildable(int level, long now, long settled)
    {
        using var command = connection.CreateCommand();
        // A minute once it is over (the all-labels set's once no other set's minute beside it is dirty, since it is
        // their merge); a coarser bucket once none of its finer buckets is dirty.
        command.CommandText = level == RollupLevel.Minute
            ? $"""
              SELECT d.set_id, d.bucket, d.generation FROM rollup_dirty d JOIN label_sets s ON s.id = d.set_id
              WHERE d.level = 0 AND d.bucket <= $latest AND d.touched <= $settled AND (s.labels <> '{RollupLevel.AllLabels}' OR NOT EXISTS (
                  SELECT 1 FROM rollup_dirty o JOIN label_sets os ON os.id = o.set_id
                  WHERE o.level = 0 AND o.bucket = d.bucket AND os.service = s.service AND os.type = s.type AND os.labels <> '{RollupLevel.AllLabels}'))
              ORDER BY d.set_id, d.bucket LIMIT 2000
              """
            : """
              SELECT d.set_id, d.bucket, d.generation FROM rollup_dirty d
              WHERE d.level = $level AND d.bucket <= $latest AND d.touched <= $settled AND NOT EXISTS (
                  SELECT 1 FROM rollup_dirty f WHERE f.set_id = d.set_id AND f.level = $level - 1 AND f.bucket >= d.bucket AND f.bucket < d.bucket + $width)
              ORDER BY d.set_id, d.bucket LIMIT 2000
              """;
        command.Parameters.AddWithValue("$level", level);
        command.Parameters.AddWithValue("$width", RollupLevel.Width(level));
        command.Parameters.AddWithValue("$latest", now - RollupLevel.Width(level));
        command.Parameters.AddWithValue("$settled", settled);
        var buckets = new List<(long, long, long)>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
            buckets.Add((reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2)));
        return buckets;
    }

    private void Build(long setId, int level, long bucket, long generation)
    {
        var width = RollupLevel.Width(level);
        var set = Set(setId);
        var parts = level > RollupLevel.Minute ? PieceParts(setId, level - 1, bucket, width)
            : set.Labels == RollupLevel.AllLabels ? SiblingParts(setId, bucket) : RawParts(setId, bucket, width);
        // A raw minute that ingest already merged in memory needs no second decode.
        var folded = level == RollupLevel.Minute && set.Labels != RollupLevel.AllLabels
            ? folds.Take(set.Service, set.Type, set.Labels, bucket, parts.Count >= 2 ? [.. parts.Select(p => p.Id!)] : []) // fewer: a pointer, nothing to merge
            : null;
        byte[]? body = null;
        long? pointer = null;
        var profiles = parts.Sum(p => p.Profiles);
        var value = Saturating.Sum(parts, p => p.Value);
        var mergeable = parts.TrueForAll(p => !p.Unmergeable);
        if (!mergeable)
        {
            // A part that could not be merged: merges of this bucket read the parts.
        }
        else if (parts.Count == 1 && parts[0].Seq is { } seq)
        {
            pointer = seq; // one raw profile, however coarse the bucket: no copy
        }
        else if (parts.Count == 1)
        {
            body = parts[0].Body; // one piece: its bytes already are the merge
        }
        else if (folded is not null)
        {
            body = ProfileEncoder.ToGzipBytes(folded);
        }
        else if (parts.Count > 0)
        {
            try
            {
                body = Merge(parts);
            }
            catch (Exception e) when (e is IncompatibleProfilesException or MalformedProfileException or ProfileTooLargeException)
            {
                mergeable = false; // merges of this bucket read its parts
            }
        }

        using var tx = connection.BeginTransaction();
        using (var write = connection.CreateCommand())
        {
            write.Transaction = tx;
            if (parts.Count == 0)
            {
                write.CommandText = "DELETE FROM rollups WHERE set_id = $set AND level = $level AND bucket = $bucket";
            }
            else
            {
                write.CommandText = """
                    INSERT INTO rollups(set_id, level, bucket, profiles, value, seq, body) VALUES ($set, $level, $bucket, $profiles, $value, $seq, $body)
                    ON CONFLICT(set_id, level, bucket) DO UPDATE SET profiles = excluded.profiles, value = excluded.value, seq = excluded.seq, body = excluded.body
                    """;
                write.Parameters.AddWithValue("$profiles", mergeable ? profiles : 0);
                write.Parameters.AddWithValue("$value", value);
                write.Parameters.AddWithValue("$seq", (object?)pointer ?? DBNull.Value);
                write.Parameters.AddWithValue("$body", (object?)body ?? DBNull.Value);
            }

            write.Parameters.AddWithValue("$set", setId);
            write.Parameters.AddWithValue("$level", level);
            write.Parameters.AddWithValue("$bucket", bucket);
            write.ExecuteNonQuery();
        }

        using (var clear = connection.CreateCommand())
        {
            clear.Transaction = tx;
            clear.CommandText = "DELETE FROM rollup_dirty WHERE set_id = $set AND level = $level AND bucket = $bucket AND generation = $generation";
            clear.Parameters.AddWithValue("$set", setId);
            clear.Parameters.AddWithValue("$level", level);
            clear.Parameters.AddWithValue("$bucket", bucket);
            clear.Parameters.AddWithValue("$generation", generation);
            clear.ExecuteNonQuery();
        }

        tx.Commit();
    }

    private sealed record Part(long? Seq, byte[]? Body, long Segment, long Offset, int Length, int Profiles, long Value, bool Unmergeable = false, string? Id = null);

    private List<Part> RawParts(long setId, long bucket, long width)
    {
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT p.seq, p.segment, p.body_offset, p.size, p.value, p.id FROM label_sets s
            JOIN profiles p ON p.service = s.service AND p.type = s.type AND p.created_at >= $bucket AND p.created_at < $end AND p.labels = s.labels
            WHERE s.id = $set ORDER BY p.created_at, p.seq
            """;
        command.Parameters.AddWithValue("$set", setId);
        command.Parameters.AddWithValue("$bucket", bucket);
        command.Parameters.AddWithValue("$end", bucket + width);
        var parts = new List<Part>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
            parts.Add(new Part(reader.GetInt64(0), null, reader.GetInt64(1), reader.GetInt64(2), reader.GetInt32(3), 1, reader.GetInt64(4), Id: reader.GetString(5)));
        return parts;
    }

    private (string Service, int Type, string Labels) Set(long setId)
    {
        if (_sets.TryGetValue(setId, out var set))
            return set;
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT service, type, labels FROM label_sets WHERE id = $set";
        command.Parameters.AddWithValue("$set", setId);
        using var reader = command.ExecuteReader();
        reader.Read();
        return _sets[setId] = (reader.GetString(0), reader.GetInt32(1), reader.GetString(2));
    }

    /// <summary>The parts of a bucket at a finer level of the same label set.</summary>
    private List<Part> PieceParts(long setId, int level, long bucket, long width) => ReadParts("""
        SELECT r.profiles, r.value, r.body, p.segment, p.body_offset, p.size, p.seq FROM rollups r LEFT JOIN profiles p ON p.seq = r.seq
        WHERE r.set_id = $set AND r.level = $level AND r.bucket >= $bucket AND r.bucket < $end ORDER BY r.bucket
        """, setId, level, bucket, bucket + width);

    /// <summary>
    /// The parts of an all-labels minute: the same minute's pieces of every other label set of its service and
    /// type, which together hold each of its profiles once; cheaper than its raw profiles wherever a set has many.
    /// </summary>
    private List<Part> SiblingParts(long setId, long bucket) => ReadParts($"""
        SELECT r.profiles, r.value, r.body, p.segment, p.body_offset, p.size, p.seq
        FROM label_sets a JOIN label_sets s ON s.service = a.service AND s.type = a.type AND s.labels <> '{RollupLevel.AllLabels}'
        JOIN rollups r ON r.set_id = s.id AND r.level = $level AND r.bucket = $bucket LEFT JOIN profiles p ON p.seq = r.seq
        WHERE a.id = $set ORDER BY s.id
        """, setId, RollupLevel.Minute, bucket, bucket);

    private List<Part> ReadParts(string sql, long setId, int level, long bucket, long end)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$set", setId);
        command.Parameters.AddWithValue("$level", level);
        command.Parameters.AddWithValue("$bucket", bucket);
        command.Parameters.AddWithValue("$end", end);
        var parts = new List<Part>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            if (!reader.IsDBNull(2))
                parts.Add(new Part(null, (byte[])reader.GetValue(2), 0, 0, 0, reader.GetInt32(0), reader.GetInt64(1)));
            else if (!reader.IsDBNull(3))
                parts.Add(new Part(reader.GetInt64(6), null, reader.GetInt64(3), reader.GetInt64(4), reader.GetInt32(5), 1, reader.GetInt64(1)));
            else
                parts.Add(new Part(null, null, 0, 0, 0, 0, 0, Unmergeable: true));
        }

        return parts;
    }

    private byte[] Merge(List<Part> parts)
    {
        var merger = new ProfileMerger();
        using var bodies = log.OpenReader();
        foreach (var part in parts)
        {
            var body = part.Body ?? bodies.Read(part.Segment, part.Offset, part.Length);
            try
            {
                decoder.Load(body, _raw);
                merger.Add(_raw);
            }
            finally
            {
                ProfileDecoder.Release(_raw);
            }
        }

        return ProfileEncoder.ToGzipBytes(merger.Build());
    }
}
