using System.Text;
using Hotpath.Pprof;
using Hotpath.Storage.Pieces;
using Microsoft.Data.Sqlite;

namespace Hotpath.Storage.Sqlite;

/// <summary>Retention: rows taken and written before the cutoff, then the pieces and segment files nothing refers to.</summary>
public sealed partial class SqliteProfileStore
{
    public async Task<int> DeleteOlderThanAsync(long cutoffUnixNanos, long aggregateCutoffUnixNanos, CancellationToken cancellationToken)
    {
        await using var connection = Open();
        var written = ProfileId.FirstAt(cutoffUnixNanos);
        KeepPointedBodies(connection, cutoffUnixNanos, written);
        await MergeThinPiecesAsync(connection, cutoffUnixNanos, cancellationToken).ConfigureAwait(false);
        // Fine pieces go with the raw profiles of their time: not before a late arrival's (kept from its write).
        var fineCutoff = Math.Min(cutoffUnixNanos, OldestWrittenSince(connection, written));
        DeleteRollups(connection, fineCutoff, Math.Min(aggregateCutoffUnixNanos, fineCutoff));
        var deleted = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Small transactions, so that the writer never waits long for the lock.
            var batch = DeleteBatch(connection, cutoffUnixNanos, written);
            deleted += batch;
            if (batch < RetentionBatch)
                break;
        }

        if (deleted > 0)
            Execute(connection, "DELETE FROM services WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.service = services.service)");
        // Every pass, not only those that deleted: an earlier one may have been cut short before its files went.
        DeleteEmptySegments(connection);
        return deleted;
    }

    /// <summary>
    /// An hour or day piece of a single profile points at its raw body; before that body expires, the piece
    /// gets a copy of its bytes, so the aggregate outlives the raw profile as any other does.
    /// </summary>
    private void KeepPointedBodies(SqliteConnection connection, long cutoff, string written)
    {
        var pointed = new List<(long Id, long Segment, long Offset, int Length)>();
        using (var select = connection.CreateCommand())
        {
            select.CommandText = $"""
                SELECT r.id, p.segment, p.body_offset, p.size FROM rollups r JOIN profiles p ON p.seq = r.seq
                WHERE r.level >= {BucketGrid.Day - 1} AND p.created_at < $cutoff AND p.id < $written
                """;
            select.Parameters.AddWithValue("$cutoff", cutoff);
            select.Parameters.AddWithValue("$written", written);
            using var reader = select.ExecuteReader();
            while (reader.Read())
                pointed.Add((reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt32(3)));
        }

        using var bodies = _log.OpenReader();
        foreach (var chunk in pointed.Chunk(RetentionBatch))
        {
            using var tx = connection.BeginTransaction();
            using var update = connection.CreateCommand();
            update.Transaction = tx;
            update.CommandText = "UPDATE rollups SET body = $body, seq = NULL WHERE id = $id";
            var body = update.Parameters.Add("$body", SqliteType.Blob);
            var id = update.Parameters.Add("$id", SqliteType.Integer);
            foreach (var piece in chunk)
            {
                (body.Value, id.Value) = (bodies.Read(piece.Segment, piece.Offset, piece.Length), piece.Id);
                update.ExecuteNonQuery();
            }

            tx.Commit();
        }
    }

    /// <summary>
    /// A thin hour or day piece (<see cref="BuiltPiece{TRef}.Thin"/>) is read as its parts, down to raw profiles;
    /// before any of them expires, it is merged whole, so the aggregate outlives them as any other does.
    /// </summary>
    private async Task MergeThinPiecesAsync(SqliteConnection connection, long cutoff, CancellationToken cancellationToken)
    {
        var thin = new List<PendingPiece>();
        using (var select = connection.CreateCommand())
        {
            select.CommandText = $"""
                SELECT s.service, s.type, r.level, r.bucket, s.labels, r.set_id FROM rollups r JOIN label_sets s ON s.id = r.set_id
                WHERE r.level >= {BucketGrid.Hour} AND r.bucket < $cutoff AND r.profiles > 0 AND r.body IS NULL AND r.seq IS NULL
                """;
            select.Parameters.AddWithValue("$cutoff", cutoff);
            using var reader = select.ExecuteReader();
            while (reader.Read())
            {
                // Mark -1: no dirty mark has that generation, so writing the piece clears none (a later write's stays).
                thin.Add(new PendingPiece(reader.GetString(0), (ProfileType)reader.GetInt32(1), reader.GetInt32(2), reader.GetInt64(3),
                    reader.GetString(4), reader.GetInt64(5), Mark: -1));
            }
        }

        if (thin.Count == 0)
            return;
        await _rollupPass.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Finest first: an hour merged whole is one part of its day.
            foreach (var piece in thin.OrderBy(p => p.Level))
                await _rollups.BuildWholeAsync(piece, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _rollupPass.Release();
        }
    }

    /// <summary>
    /// Minute and ten-minute pieces go with the raw profiles they stand for (a piece that straddles the
    /// cutoff is rebuilt from what remains); hour and day pieces stay until the aggregate cutoff, and never
    /// go before the raw profiles do, since a bucket without a piece reads as empty.
    /// </summary>
    private static void DeleteRollups(SqliteConnection connection, long cutoff, long aggregateCutoff)
    {
        using var tx = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        var sql = new StringBuilder();
        for (var level = BucketGrid.Minute; level <= BucketGrid.Day; level++)
        {
            var fine = level < BucketGrid.Day - 1;
            var width = BucketGrid.Width(level);
            var before = fine ? cutoff : aggregateCutoff;
            if (before == long.MinValue)
                continue;
            sql.Append(System.Globalization.CultureInfo.InvariantCulture, $"DELETE FROM rollups WHERE level = {level} AND bucket <= {before} - {width};");
            if (fine)
            {
                sql.Append(System.Globalization.CultureInfo.InvariantCulture, $"""
                    INSERT OR IGNORE INTO rollup_dirty(set_id, level, bucket, generation)
                    SELECT set_id, level, bucket, 0 FROM rollups WHERE level = {level} AND bucket < {before} AND bucket > {before} - {width};
                    """);
            }
        }

        command.CommandText = sql.ToString();
        if (command.CommandText.Length > 0)
            command.ExecuteNonQuery();
        tx.Commit();
    }

    private void DeleteEmptySegments(SqliteConnection connection) => DeleteEmptySegments(connection, _log);

    private static void DeleteEmptySegments(SqliteConnection connection, BodyLog log)
    {
        var empty = new List<long>();
        using (var select = connection.CreateCommand())
        {
            select.CommandText = "SELECT id FROM segments WHERE live <= 0 AND id <> $active";
            select.Parameters.AddWithValue("$active", log.ActiveSegment);
            using var reader = select.ExecuteReader();
            while (reader.Read())
                empty.Add(reader.GetInt64(0));
        }

        foreach (var segment in empty)
        {
            // Row first: a crash between the two leaves a file that the next start deletes.
            using var delete = connection.CreateCommand();
            delete.CommandText = "DELETE FROM segments WHERE id = $id AND live <= 0";
            delete.Parameters.AddWithValue("$id", segment);
            delete.ExecuteNonQuery();
            log.Delete(segment);
        }
    }

    /// <summary>The earliest time of a profile written at or after the id <paramref name="written"/>; long.MaxValue when none.</summary>
    private static long OldestWrittenSince(SqliteConnection connection, string written)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT MIN(created_at) FROM profiles WHERE id >= $written";
        command.Parameters.AddWithValue("$written", written);
        return command.ExecuteScalar() is long oldest ? oldest : long.MaxValue;
    }

    private static int DeleteBatch(SqliteConnection connection, long cutoff, string written)
    {
        using var tx = connection.BeginTransaction();
        var expired = new List<(long Seq, string Service, long CreatedAt, string Labels, long Segment, int Type)>();
        using (var select = connection.CreateCommand())
        {
            select.CommandText = "SELECT seq, service, created_at, labels, segment, type FROM profiles WHERE created_at < $cutoff AND id < $written LIMIT $n";
            select.Parameters.AddWithValue("$cutoff", cutoff);
            select.Parameters.AddWithValue("$written", written);
            select.Parameters.AddWithValue("$n", RetentionBatch);
            using var reader = select.ExecuteReader();
            while (reader.Read())
                expired.Add((reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), reader.GetInt64(4), reader.GetInt32(5)));
        }

        using var deleteProfile = connection.CreateCommand();
        deleteProfile.CommandText = "DELETE FROM profiles WHERE seq = $seq; UPDATE segments SET live = live - 1 WHERE id = $segment;";
        var seqParameter = deleteProfile.Parameters.Add("$seq", SqliteType.Integer);
        var segmentParameter = deleteProfile.Parameters.Add("$segment", SqliteType.Integer);
        using var deleteLabel = connection.CreateCommand();
        deleteLabel.CommandText = "DELETE FROM profile_labels WHERE service = $s AND key = $k AND value = $v AND type = $type AND created_at = $t AND seq = $seq";
        var s = deleteLabel.Parameters.Add("$s", SqliteType.Text);
        var k = deleteLabel.Parameters.Add("$k", SqliteType.Text);
        var v = deleteLabel.Parameters.Add("$v", SqliteType.Text);
        var t = deleteLabel.Parameters.Add("$t", SqliteType.Integer);
        var labelSeq = deleteLabel.Parameters.Add("$seq", SqliteType.Integer);
        var labelType = deleteLabel.Parameters.Add("$type", SqliteType.Integer);

        foreach (var row in expired)
        {
            seqParameter.Value = row.Seq;
            segmentParameter.Value = row.Segment;
            deleteProfile.ExecuteNonQuery();
            foreach (var label in LabelSetKey.Decode(row.Labels))
            {
                (s.Value, k.Value, v.Value, t.Value, labelSeq.Value, labelType.Value) = (row.Service, label.Key, label.Value, row.CreatedAt, row.Seq, row.Type);
                deleteLabel.ExecuteNonQuery();
            }
        }

        tx.Commit();
        return expired.Count;
    }
}
