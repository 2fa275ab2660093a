using System.Text;
using Hotpath.Pprof;
using Hotpath.Storage.Pieces;

namespace Hotpath.Storage.ClickHouse;

public sealed partial class ClickHouseProfileStore
{
    /// <summary>
    /// ClickHouse's pieces as the planner reads them: a bucket and label set is taken from its latest piece when
    /// ClickHouse counts exactly the profiles the piece holds there, and is stale otherwise. ClickHouse does the
    /// counting (GROUP BY bucket and label set), so planning a week reads counts, not a row per profile; a level
    /// is two queries for every label set at once.
    /// </summary>
    private sealed class PieceIndex(ClickHouseProfileStore store) : IPieceIndex<StoredBody>
    {
        public IReadOnlyList<int> Levels => PieceLevels;

        /// <summary>Buckets from 1970 on that DateTime holds (to 2106); a range elsewhere reads raw bodies.</summary>
        public (long From, long End) Span => (0, uint.MaxValue * 1_000_000_000L);

        public async Task<IReadOnlyList<string>> LabelSetsAsync(ProfileQuery query, string? byLabel, CancellationToken cancellationToken)
        {
            if (!query.HasLabelFilter && byLabel is null)
                return [BucketGrid.AllLabels];
            // A filter on one label alone: its group's pieces when the range's label sets call for the group, as the
            // builder chooses it from the sets of its look-back (a bucket whose group piece does not count what the
            // profiles table has there is read finer, as any stale piece is).
            var single = byLabel is null && query is { Labels: [var pair], Filter: null } ? LabelGroups.Of(pair) : null;
            var sql = new StringBuilder($"SELECT DISTINCT label_keys, label_values FROM {store._db}.profiles");
            AppendWhere(sql, single is null ? query : query with { Labels = [] });
            var reader = new RowBinaryReader(await store.QueryAsync(sql.ToString(), cancellationToken));
            var all = new List<IReadOnlyList<ProfileLabel>>();
            while (!reader.End)
                all.Add([.. reader.Strings().Zip(reader.Strings(), (k, v) => new ProfileLabel(k, v))]);
            if (single is not null && LabelGroups.Choose(all).Contains(single))
                return [single];
            return [.. all.Where(query.MatchesLabels).Select(LabelKey).Distinct(StringComparer.Ordinal)];
        }

        public async Task<LoadedPieces<StoredBody>> LoadAsync(ProfileQuery query, int level, IReadOnlyList<SetRange> ranges, CancellationToken cancellationToken)
        {
            var nanos = BucketGrid.Width(level);
            var width = nanos / 1_000_000_000;
            // All-labels or a group: the ranges are all of it (LabelSetsAsync answers it alone).
            var together = LabelGroups.IsGroup(ranges[0].Labels) ? ranges[0].Labels : null;
            var first = ranges.Min(r => r.From) / nanos;
            var last = ranges.Max(r => r.End) / nanos - 1;
            var counts = await store.CountsAsync(query, width, first, last, together, cancellationToken);
            var byLabels = ranges.ToLookup(r => r.Labels, StringComparer.Ordinal);
            // Only the buckets with profiles (an empty one has nothing to cover) in a range of their own label set.
            var wanted = counts.Where(c => byLabels[c.Key.Labels].Any(r => c.Key.Bucket * nanos >= r.From && c.Key.Bucket * nanos < r.End)).ToList();
            var loaded = new LoadedPieces<StoredBody>();
            if (wanted.Count == 0)
                return loaded;
            var buckets = wanted.Select(c => c.Key.Bucket).ToHashSet();
            var kind = together is null ? PieceKind.LabelSet : RowOf(together).Kind;
            var pieces = await store.LatestPiecesAsync(query.Service, query.Type!.Value, width, buckets.Min(), buckets.Max(), kind, query.Labels, buckets, cancellationToken);
            foreach (var ((bucket, labels), count) in wanted)
            {
                if (pieces.TryGetValue((bucket, labels), out var piece) && piece.Profiles == count)
                    loaded.Pieces.Add(new(bucket * nanos, labels, piece.Profiles, 0, false, new StoredBody(piece.Body, null)));
                else
                    loaded.Stale.Add((labels, bucket * nanos));
            }

            return loaded;
        }

        public async Task<IReadOnlyList<PlannedPiece<StoredBody>>> RawAsync(ProfileQuery query, IReadOnlyList<SetRange> ranges, CancellationToken cancellationToken)
        {
            // One read of the union of the ranges; then each profile is kept if it lies in a range of its own label set.
            var within = new List<(long From, long To)>();
            foreach (var range in ranges.OrderBy(r => r.From))
            {
                if (within.Count > 0 && within[^1].To >= range.From - 1)
                    within[^1] = (within[^1].From, Math.Max(within[^1].To, range.End - 1));
                else
                    within.Add((range.From, range.End - 1));
            }

            var sql = new StringBuilder($"SELECT {MetaColumns} FROM {store._db}.profiles");
            AppendWhere(sql, query, within);
            sql.Append(" ORDER BY created_nanos, id");
            var byLabels = ranges.ToLookup(r => r.Labels, StringComparer.Ordinal);
            // All-labels or a group: every profile the query selects is of it.
            var together = LabelGroups.IsGroup(ranges[0].Labels) ? ranges[0].Labels : null;
            var all = together is null ? [] : byLabels[together].ToList();
            var raw = new List<PlannedPiece<StoredBody>>();
            foreach (var meta in ReadMetas(await store.QueryAsync(sql.ToString(), cancellationToken)))
            {
                var labels = together ?? LabelKey(meta.Labels);
                var time = meta.CreatedAtUnixNanos;
                if ((all.Count > 0 ? all : byLabels[labels]).Any(r => time >= r.From && time < r.End))
                    raw.Add(new(time, labels, 1, meta.Value, true, new StoredBody(null, meta.Id)));
            }

            return raw;
        }
    }
}
