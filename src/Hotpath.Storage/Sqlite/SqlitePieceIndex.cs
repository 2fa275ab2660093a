using Hotpath.Pprof;
using Hotpath.Storage.Pieces;
using Microsoft.Data.Sqlite;

namespace Hotpath.Storage.Sqlite;

/// <summary>
/// The embedded store's pieces as the planner reads them, in one read transaction: label sets from
/// <c>label_sets</c>, pieces from <c>rollups</c> (a body, or a pointer to the bucket's one raw profile), stale
/// buckets from <c>rollup_dirty</c>, unmergeable pieces and thin ones (read as their parts, except by a series,
/// which needs their counts only), raw profiles from <c>profiles</c> and the body log.
/// </summary>
/// <param name="withBodies">False for a series, which needs each piece's counts and not its body.</param>
internal sealed class SqlitePieceIndex(SqliteConnection connection, SqliteTransaction transaction, bool withBodies = true) : IPieceIndex<BodyPlace>
{
    private readonly Dictionary<string, long> _sets = new(StringComparer.Ordinal);

    public IReadOnlyList<int> Levels => SqlitePieceStore.BuiltLevels;

    public (long From, long End) Span => (-(1L << 62), 1L << 62);

    public Task<IReadOnlyList<string>> LabelSetsAsync(ProfileQuery query, string? byLabel, CancellationToken cancellationToken)
    {
        using var command = Command("SELECT id, labels FROM label_sets WHERE service = $service AND type = $type");
        command.Parameters.AddWithValue("$service", query.Service);
        command.Parameters.AddWithValue("$type", (int)query.Type!.Value);
        var sets = new List<string>();
        var groups = new List<string>();
        // Without a filter the all-labels pieces answer alone; with one on a grouped label alone, its group's do;
        // with any other, each label set that has it does. Grouped by a label without a filter: its groups, if kept.
        var group = byLabel is not null ? null
            : !query.HasLabelFilter ? BucketGrid.AllLabels
            : query is { Labels: [var pair], Filter: null } ? LabelGroups.Of(pair)
            : null;
        var byGroups = byLabel is not null && !query.HasLabelFilter;
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                var labels = reader.GetString(1);
                if (labels == group)
                    return Task.FromResult<IReadOnlyList<string>>([Keep(labels, reader.GetInt64(0))]);
                if (!LabelGroups.IsGroup(labels) && query.MatchesLabels(LabelSetKey.Decode(labels)))
                    sets.Add(Keep(labels, reader.GetInt64(0)));
                else if (byGroups && LabelGroups.IsLabelGroup(labels) && LabelGroups.PairOf(labels).Key == byLabel)
                    groups.Add(Keep(labels, reader.GetInt64(0)));
            }
        }

        // No all-labels set: nothing of the service and type has been written. A label's groups are all of its values'.
        return Task.FromResult<IReadOnlyList<string>>(group == BucketGrid.AllLabels ? [] : groups.Count > 0 ? groups : sets);

        string Keep(string labels, long id)
        {
            _sets[labels] = id;
            return labels;
        }
    }

    public Task<LoadedPieces<BodyPlace>> LoadAsync(ProfileQuery query, int level, IReadOnlyList<SetRange> ranges, CancellationToken cancellationToken)
    {
        var loaded = new LoadedPieces<BodyPlace>();
        foreach (var range in ranges)
            Load(range, level, loaded);
        return Task.FromResult(loaded);
    }

    private void Load(SetRange range, int level, LoadedPieces<BodyPlace> loaded)
    {
        var dirty = new HashSet<long>();
        using (var command = Command("SELECT bucket FROM rollup_dirty WHERE set_id = $set AND level = $level AND bucket >= $from AND bucket < $end"))
        {
            AddRange(command, range, level);
            using var reader = command.ExecuteReader();
            while (reader.Read())
                dirty.Add(reader.GetInt64(0));
        }

        foreach (var bucket in dirty)
            loaded.Stale.Add((range.Labels, bucket));
        using (var command = Command($"""
            SELECT r.bucket, r.profiles, r.value, r.body IS NOT NULL, {(withBodies ? "r.body" : "NULL")}, p.segment, p.body_offset, p.size, r.seq IS NULL
            FROM rollups r LEFT JOIN profiles p ON p.seq = r.seq
            WHERE r.set_id = $set AND r.level = $level AND r.bucket >= $from AND r.bucket < $end
            """))
        {
            AddRange(command, range, level);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var bucket = reader.GetInt64(0);
                if (dirty.Contains(bucket))
                    continue;
                var (profiles, value) = (reader.GetInt32(1), reader.GetInt64(2));
                if (reader.GetBoolean(3))
                    loaded.Pieces.Add(new(bucket, range.Labels, profiles, value, false, new BodyPlace(withBodies ? (byte[])reader.GetValue(4) : null, 0, 0, 0)));
                else if (!reader.IsDBNull(5))
                    loaded.Pieces.Add(new(bucket, range.Labels, 1, value, true, new BodyPlace(null, reader.GetInt64(5), reader.GetInt64(6), reader.GetInt32(7))));
                else if (!withBodies && profiles > 0 && reader.GetBoolean(8))
                    loaded.Pieces.Add(new(bucket, range.Labels, profiles, value, false, new BodyPlace(null, 0, 0, 0))); // thin: its counts are all a series needs
                else
                    loaded.Stale.Add((range.Labels, bucket)); // thin, did not merge, or its raw profile is gone: its parts can
            }
        }
    }

    public Task<IReadOnlyList<PlannedPiece<BodyPlace>>> RawAsync(ProfileQuery query, IReadOnlyList<SetRange> ranges, CancellationToken cancellationToken)
    {
        var raw = new List<PlannedPiece<BodyPlace>>();
        foreach (var range in ranges)
        {
            // A label's group: the profiles its filter (the query's) matches.
            ProfileLabel? pair = LabelGroups.IsLabelGroup(range.Labels) ? LabelGroups.PairOf(range.Labels) : null;
            using var command = Command("""
                SELECT created_at, segment, body_offset, size, value, labels FROM profiles
                WHERE service = $service AND type = $type AND created_at >= $from AND created_at <= $last AND (substr($labels, 1, 1) = '*' OR labels = $labels)
                """);
            command.Parameters.AddWithValue("$service", query.Service);
            command.Parameters.AddWithValue("$type", (int)query.Type!.Value);
            command.Parameters.AddWithValue("$from", range.From);
            command.Parameters.AddWithValue("$last", range.End == long.MaxValue ? long.MaxValue : range.End - 1);
            command.Parameters.AddWithValue("$labels", range.Labels);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                if (pair is not { } held || LabelGroups.Holds(held, LabelSetKey.Decode(reader.GetString(5))))
                    raw.Add(new(reader.GetInt64(0), range.Labels, 1, reader.GetInt64(4), true, new BodyPlace(null, reader.GetInt64(1), reader.GetInt64(2), reader.GetInt32(3))));
            }
        }

        return Task.FromResult<IReadOnlyList<PlannedPiece<BodyPlace>>>(raw);
    }

    private void AddRange(SqliteCommand command, SetRange range, int level)
    {
        command.Parameters.AddWithValue("$set", _sets[range.Labels]);
        command.Parameters.AddWithValue("$level", level);
        command.Parameters.AddWithValue("$from", range.From);
        command.Parameters.AddWithValue("$end", range.End);
    }

    private SqliteCommand Command(string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }
}
