using System.Runtime.CompilerServices;
using Hotpath.Pprof;
using Hotpath.Storage.Pieces;
using Microsoft.Data.Sqlite;

namespace Hotpath.Storage.Sqlite;

/// <summary>
/// The embedded store's pieces as the builder makes them, on a connection of their own. A bucket's dirty mark
/// carries the sequence number of the last profile that touched it and is cleared only if no later one has,
/// so a profile written while its bucket is being built leaves the bucket dirty for the next pass. Marks are
/// written in the profile's own transaction, so after a crash the pieces still agree with what was acknowledged.
/// A piece that ingest already merged in memory (<see cref="IngestFolds"/>) is not decoded again.
/// </summary>
internal sealed class SqlitePieceStore(SqliteConnection connection, BodyLog log, IngestFolds folds, int minMergedProfiles) : IPieceStore<RawPlace>
{
    private const int Batch = 2000;

    /// <summary>
    /// Pieces due before their writes settled: they have a fold, of a bucket over for longer than late agents
    /// upload (a backfill, a burst), so they are built from it at once while it is still in memory. Taken by
    /// <see cref="PartsAsync"/>, which builds them from the fold or not at all.
    /// </summary>
    private readonly HashSet<PendingPiece> _early = [];

    /// <summary>The levels the embedded store builds and its merges read, coarsest first: all four of the grid.</summary>
    public static readonly int[] BuiltLevels = [BucketGrid.Day, BucketGrid.Hour, BucketGrid.TenMinutes, BucketGrid.Minute];

    public IReadOnlyList<int> Levels => BuiltLevels;

    public bool KeepsPointers => true;

    public int MinMergedProfiles => minMergedProfiles;

    public Task<IReadOnlyList<PendingPiece>> PendingAsync(int level, long nowUnixNanos, bool settledOnly, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        // A minute once it is over (a group's, all-labels too, once no label set's minute beside it is dirty, since it
        // is their merge); a coarser bucket once none of its finer buckets is dirty. Settled, or early from a fold.
        // A group's key starts with '*', a label set's never does.
        command.CommandText = level == BucketGrid.Minute
            ? $"""
              SELECT d.set_id, d.bucket, d.generation, s.service, s.type, s.labels, d.touched FROM rollup_dirty d JOIN label_sets s ON s.id = d.set_id
              WHERE d.level = 0 AND d.bucket <= $latest AND (d.touched <= $settled OR d.bucket <= $early) AND (substr(s.labels, 1, 1) <> '*' OR NOT EXISTS (
                  SELECT 1 FROM rollup_dirty o JOIN label_sets os ON os.id = o.set_id
                  WHERE o.level = 0 AND o.bucket = d.bucket AND os.service = s.service AND os.type = s.type AND substr(os.labels, 1, 1) <> '*'))
              ORDER BY d.bucket, d.set_id LIMIT {Batch}
              """
            : $"""
              SELECT d.set_id, d.bucket, d.generation, s.service, s.type, s.labels, d.touched FROM rollup_dirty d JOIN label_sets s ON s.id = d.set_id
              WHERE d.level = $level AND d.bucket <= $latest AND (d.touched <= $settled OR (d.bucket <= $early AND substr(s.labels, 1, 1) <> '*')) AND NOT EXISTS (
                  SELECT 1 FROM rollup_dirty f WHERE f.set_id = d.set_id AND f.level = $level - 1 AND f.bucket >= d.bucket AND f.bucket < d.bucket + $width)
              ORDER BY d.bucket, d.set_id LIMIT {Batch}
              """;
        command.Parameters.AddWithValue("$level", level);
        command.Parameters.AddWithValue("$width", BucketGrid.Width(level));
        command.Parameters.AddWithValue("$latest", nowUnixNanos - BucketGrid.Width(level));
        var settled = settledOnly ? nowUnixNanos - (long)BucketGrid.Settle.TotalNanoseconds : long.MaxValue;
        command.Parameters.AddWithValue("$settled", settled);
        command.Parameters.AddWithValue("$early", settledOnly && level <= BucketGrid.TenMinutes
            ? nowUnixNanos - BucketGrid.Width(level) - (long)BucketGrid.LateWrites.TotalNanoseconds
            : long.MinValue);
        var pending = new List<PendingPiece>();
        _early.Clear();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var piece = new PendingPiece(reader.GetString(3), (ProfileType)reader.GetInt32(4), level, reader.GetInt64(1), reader.GetString(5),
                Set: reader.GetInt64(0), Mark: reader.GetInt64(2));
            if (reader.GetInt64(6) > settled)
            {
                if (!IngestFolds.Folds(piece) || !folds.Has(piece, nowUnixNanos))
                    continue;
                _early.Add(piece);
            }

            pending.Add(piece);
        }

        return Task.FromResult<IReadOnlyList<PendingPiece>>(pending);
    }

    public Task<PieceParts<RawPlace>?> PartsAsync(PendingPiece piece, CancellationToken cancellationToken)
    {
        var early = _early.Remove(piece);
        var width = BucketGrid.Width(piece.Level);
        var raw = piece.Level == BucketGrid.Minute && !LabelGroups.IsGroup(piece.Labels);
        var parts = Parts(piece.Set, piece.Labels, piece.Level, piece.Bucket);
        if (PieceParts<RawPlace>.AreThin(parts, minMergedProfiles))
        {
            // Thin: nothing to merge, so nothing to take from a fold either (at once, even before the bucket settles).
            folds.Drop(piece);
            return Task.FromResult<PieceParts<RawPlace>?>(new PieceParts<RawPlace>(parts));
        }

        // A piece that ingest already merged in memory needs no second decode (one part: its bytes or a pointer, nothing to merge).
        // Its committed profiles: a raw minute's parts are they; a piece of pieces asks their ids.
        var folded = IngestFolds.Folds(piece) && parts.Count >= 2
            ? folds.Take(piece, settled: !early, () => raw ? [.. parts.Select(p => p.Raw!.Id!)] : RawIds(piece, width))
            : null;
        return Task.FromResult(early && folded is null ? null : new PieceParts<RawPlace>(parts, folded));
    }

    public async IAsyncEnumerable<byte[]> ReadAsync(IReadOnlyList<RawPlace> raw, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        using var bodies = log.OpenReader();
        foreach (var place in raw)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return bodies.Read(place.Segment, place.Offset, place.Length);
        }
    }

    public Task WriteAsync(IReadOnlyList<(PendingPiece Piece, BuiltPiece<RawPlace> Built)> pieces, CancellationToken cancellationToken)
    {
        // One transaction for the lot: the lock is taken once, not once per piece while ingest's batches hold it.
        using var tx = connection.BeginTransaction();
        using var upsert = Command(tx, """
            INSERT INTO rollups(set_id, level, bucket, profiles, value, seq, body) VALUES ($set, $level, $bucket, $profiles, $value, $seq, $body)
            ON CONFLICT(set_id, level, bucket) DO UPDATE SET profiles = excluded.profiles, value = excluded.value, seq = excluded.seq, body = excluded.body
            """, "$profiles", "$value", "$seq", "$body");
        using var drop = Command(tx, "DELETE FROM rollups WHERE set_id = $set AND level = $level AND bucket = $bucket");
        using var clear = Command(tx, "DELETE FROM rollup_dirty WHERE set_id = $set AND level = $level AND bucket = $bucket AND generation = $generation", "$generation");
        foreach (var (piece, built) in pieces)
        {
            var write = built.Empty ? drop : upsert;
            if (!built.Empty)
            {
                write.Parameters["$profiles"].Value = built.Profiles;
                write.Parameters["$value"].Value = built.Value;
                write.Parameters["$seq"].Value = (object?)built.Pointer?.Seq ?? DBNull.Value;
                write.Parameters["$body"].Value = (object?)built.Body ?? DBNull.Value;
            }

            SetBucket(write, piece);
            write.ExecuteNonQuery();
            SetBucket(clear, piece);
            clear.Parameters["$generation"].Value = piece.Mark;
            clear.ExecuteNonQuery();
        }

        tx.Commit();
        return Task.CompletedTask;
    }

    private SqliteCommand Command(SqliteTransaction tx, string sql, params string[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var name in (string[])["$set", "$level", "$bucket", .. parameters])
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        return command;
    }

    private static void SetBucket(SqliteCommand command, PendingPiece piece)
    {
        command.Parameters["$set"].Value = piece.Set;
        command.Parameters["$level"].Value = piece.Level;
        command.Parameters["$bucket"].Value = piece.Bucket;
    }


    private List<PiecePart<RawPlace>> RawParts(long setId, long bucket, long width)
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
        var parts = new List<PiecePart<RawPlace>>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
            parts.Add(new(1, reader.GetInt64(4), null, new RawPlace(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt32(3), reader.GetString(5))));
        return parts;
    }

    /// <summary>The ids of a label set's or group's profiles in a bucket.</summary>
    private List<string> RawIds(PendingPiece piece, long width)
    {
        using var command = connection.CreateCommand();
        command.CommandText = piece.Labels == BucketGrid.AllLabels
            ? "SELECT id FROM profiles WHERE service = $service AND type = $type AND created_at >= $bucket AND created_at < $end"
            : LabelGroups.IsGroup(piece.Labels)
            ? """
              SELECT p.id FROM profile_labels l JOIN profiles p ON p.seq = l.seq
              WHERE l.service = $service AND l.key = $key AND l.value = $value AND l.type = $type AND l.created_at >= $bucket AND l.created_at < $end
              """
            : "SELECT id FROM profiles WHERE service = $service AND type = $type AND created_at >= $bucket AND created_at < $end AND labels = $labels";
        command.Parameters.AddWithValue("$service", piece.Service);
        command.Parameters.AddWithValue("$type", (int)piece.Type);
        command.Parameters.AddWithValue("$labels", piece.Labels);
        if (LabelGroups.IsLabelGroup(piece.Labels))
        {
            var pair = LabelGroups.PairOf(piece.Labels);
            command.Parameters.AddWithValue("$key", pair.Key);
            command.Parameters.AddWithValue("$value", pair.Value);
        }

        command.Parameters.AddWithValue("$bucket", piece.Bucket);
        command.Parameters.AddWithValue("$end", piece.Bucket + width);
        var ids = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
            ids.Add(reader.GetString(0));
        return ids;
    }

    /// <summary>
    /// The parts of a set's (or group's) bucket: at the finest level its raw profiles (a label set's) or the pieces of
    /// its sets beside it (a group's), else its finer pieces; a thin piece among them stands for its own parts.
    /// </summary>
    private List<PiecePart<RawPlace>> Parts(long setId, string labels, int level, long bucket) =>
        level > BucketGrid.Minute ? FinerParts(setId, level - 1, bucket, BucketGrid.Width(level))
        : LabelGroups.IsGroup(labels) ? SiblingParts(setId, labels, bucket)
        : RawParts(setId, bucket, BucketGrid.Width(level));

    /// <summary>The parts of a bucket at a finer level of the same label set.</summary>
    private List<PiecePart<RawPlace>> FinerParts(long setId, int level, long bucket, long width) => ReadParts("""
        SELECT r.profiles, r.value, r.body, p.segment, p.body_offset, p.size, p.seq, s.labels, r.set_id, r.level, r.bucket, r.seq IS NULL
        FROM rollups r JOIN label_sets s ON s.id = r.set_id LEFT JOIN profiles p ON p.seq = r.seq
        WHERE r.set_id = $set AND r.level = $level AND r.bucket >= $bucket AND r.bucket < $end ORDER BY r.bucket
        """, setId, level, bucket, bucket + width);

    /// <summary>
    /// The parts of a group's minute: the same minute's pieces of the label sets of its service and type it holds
    /// (every one, for all-labels), which together hold each of its profiles once; cheaper than its raw profiles
    /// wherever a set has many.
    /// </summary>
    private List<PiecePart<RawPlace>> SiblingParts(long setId, string group, long bucket)
    {
        Func<string, bool>? holds = null;
        if (group != BucketGrid.AllLabels)
        {
            var pair = LabelGroups.PairOf(group);
            holds = labels => LabelGroups.Holds(pair, LabelSetKey.Decode(labels));
        }

        return ReadParts("""
        SELECT r.profiles, r.value, r.body, p.segment, p.body_offset, p.size, p.seq, s.labels, r.set_id, r.level, r.bucket, r.seq IS NULL
        FROM label_sets a JOIN label_sets s ON s.service = a.service AND s.type = a.type AND substr(s.labels, 1, 1) <> '*'
        JOIN rollups r ON r.set_id = s.id AND r.level = $level AND r.bucket = $bucket LEFT JOIN profiles p ON p.seq = r.seq
        WHERE a.id = $set ORDER BY s.id
        """, setId, BucketGrid.Minute, bucket, bucket, holds);
    }

    /// <summary>
    /// The pieces a query reads as parts (a body, a pointer to a raw profile, or one that did not merge), with thin ones
    /// replaced by their own parts. Columns: profiles, value, body, the pointed profile's segment, offset, size and
    /// seq, the row's label set, set id, level, bucket, and whether it points at nothing.
    /// </summary>
    /// <param name="holds">Given the label set of a row (its eighth column), whether it is a part; null: every row is.</param>
    private List<PiecePart<RawPlace>> ReadParts(string sql, long setId, int level, long bucket, long end, Func<string, bool>? holds = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$set", setId);
        command.Parameters.AddWithValue("$level", level);
        command.Parameters.AddWithValue("$bucket", bucket);
        command.Parameters.AddWithValue("$end", end);
        var parts = new List<PiecePart<RawPlace>>();
        var thin = new List<(long Set, string Labels, int Level, long Bucket)>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                if (holds is not null && !holds(reader.GetString(7)))
                    continue;
                if (!reader.IsDBNull(2))
                    parts.Add(new(reader.GetInt32(0), reader.GetInt64(1), (byte[])reader.GetValue(2), null));
                else if (!reader.IsDBNull(3))
                    parts.Add(new(1, reader.GetInt64(1), null, new RawPlace(reader.GetInt64(6), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt32(5), null)));
                else if (reader.GetInt32(0) > 0 && reader.GetBoolean(11))
                    thin.Add((reader.GetInt64(8), reader.GetString(7), reader.GetInt32(9), reader.GetInt64(10)));
                else
                    parts.Add(PiecePart<RawPlace>.NotMergeable); // did not merge, or points at a profile retention took
            }
        }

        foreach (var (set, labels, finer, at) in thin)
            parts.AddRange(Parts(set, labels, finer, at));
        return parts;
    }
}
