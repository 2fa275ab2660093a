using System.Globalization;
using Hotpath.Pprof;
using Hotpath.Storage.Pieces;
using Microsoft.Data.Sqlite;

namespace Hotpath.Storage.Sqlite;

/// <summary>
/// The writer's label groups (<see cref="LabelGroups"/>): rows of <c>label_sets</c> whose key is a group's, marked
/// dirty by each write of a set they hold, as the all-labels set is. A service's and type's groups are chosen
/// again whenever it gains a label set; a group made then is marked dirty wherever its profiles already are (so
/// its pieces hold all of them once built, and until then merges read finer pieces and raw profiles), and a group
/// no longer chosen is dropped with its pieces, in the same transaction as the write that changed the choice.
/// </summary>
public sealed partial class SqliteProfileStore
{
    private sealed partial class BatchWriter
    {
        /// <summary>The groups besides all-labels each label set seen since the last regrouping belongs to (their row ids).</summary>
        private readonly Dictionary<long, long[]> _setGroups = [];

        private long[] GroupsOf(SqliteTransaction tx, string service, int type, long set)
        {
            if (!_setGroups.TryGetValue(set, out var groups))
            {
                Regroup(tx, service, type);
                groups = _setGroups[set];
            }

            return groups;
        }

        private void Regroup(SqliteTransaction tx, string service, int type)
        {
            var sets = new List<(long Id, IReadOnlyList<ProfileLabel> Labels)>();
            var had = new Dictionary<string, long>(StringComparer.Ordinal);
            using (var command = Command(tx, "SELECT id, labels FROM label_sets WHERE service = $service AND type = $type", ("$service", service), ("$type", type)))
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    var labels = reader.GetString(1);
                    if (!LabelGroups.IsGroup(labels))
                        sets.Add((reader.GetInt64(0), LabelSetKey.Decode(labels)));
                    else if (labels != BucketGrid.AllLabels)
                        had[labels] = reader.GetInt64(0);
                }
            }

            var chosen = LabelGroups.Choose([.. sets.Select(s => s.Labels)]);
            foreach (var (group, id) in had.Where(h => !chosen.Contains(h.Key)).ToList())
            {
                Execute(tx, "DELETE FROM rollups WHERE set_id = $id; DELETE FROM rollup_dirty WHERE set_id = $id; DELETE FROM label_sets WHERE id = $id;", ("$id", id));
                had.Remove(group);
            }

            foreach (var group in chosen.Where(g => !had.ContainsKey(g)))
                had[group] = Create(tx, service, type, group);
            foreach (var (id, labels) in sets)
                _setGroups[id] = [.. chosen.Where(g => LabelGroups.Holds(g, labels)).Select(g => had[g])];
            _folds.Regroup(service, type, chosen);
        }

        /// <summary>A new group's row, its buckets marked wherever its profiles are (settled: they were written before).</summary>
        private long Create(SqliteTransaction tx, string service, int type, string group)
        {
            long id;
            using (var command = Command(tx, "INSERT INTO label_sets(service, type, labels) VALUES ($service, $type, $labels) RETURNING id",
                       ("$service", service), ("$type", type), ("$labels", group)))
                id = (long)command.ExecuteScalar()!;
            var pair = LabelGroups.PairOf(group);
            for (var level = BucketGrid.Minute; level <= BucketGrid.Day; level++)
            {
                var width = BucketGrid.Width(level).ToString(CultureInfo.InvariantCulture);
                Execute(tx, $"""
                    INSERT OR IGNORE INTO rollup_dirty(set_id, level, bucket, generation, touched)
                    SELECT $id, {level}, created_at - ((created_at % {width}) + {width}) % {width} AS b, max(seq), 0 FROM profile_labels
                    WHERE service = $service AND key = $key AND value = $value AND type = $type GROUP BY b
                    """, ("$id", id), ("$service", service), ("$key", pair.Key), ("$value", pair.Value), ("$type", type));
            }

            return id;
        }

        private SqliteCommand Command(SqliteTransaction tx, string sql, params (string Name, object Value)[] parameters)
        {
            var command = _connection.CreateCommand();
            command.Transaction = tx;
            command.CommandText = sql;
            foreach (var (name, value) in parameters)
                command.Parameters.AddWithValue(name, value);
            return command;
        }

        private void Execute(SqliteTransaction tx, string sql, params (string Name, object Value)[] parameters)
        {
            using var command = Command(tx, sql, parameters);
            command.ExecuteNonQuery();
        }
    }
}
