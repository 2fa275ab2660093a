using System.Globalization;
using Hotpath.Pprof;
using Hotpath.Storage.Pieces;

namespace Hotpath.Storage.ClickHouse;

public sealed partial class ClickHouseProfileStore
{
    /// <summary>
    /// ClickHouse's pieces as the builder makes them. Due: a bucket over by <see cref="BucketGrid.LateWrites"/>
    /// whose all-labels piece, or a group's (<see cref="LabelGroups"/>, chosen from the label sets of the look-back),
    /// holds another count than the profiles table has there, and in it each label set's piece that does (the
    /// groups' pieces are written last, so while they are current so are the others). A 10-minute piece is merged
    /// from its raw bodies (one find for the bucket's every set), a group's from the pieces of the sets it holds,
    /// an hour from its 10 minutes; parts that do not add up to the count yet wait for a later pass.
    /// </summary>
    private sealed class PieceStore(ClickHouseProfileStore store) : IPieceStore<string>
    {
        private (string Service, ProfileType Type, long Bucket) _found;
        private List<(string Service, ProfileType Type, ProfileLabel Pair)>? _chosen;
        private ILookup<string, ProfileMeta>? _foundMetas;

        public IReadOnlyList<int> Levels => PieceLevels;

        public bool KeepsPointers => false;

        /// <summary>Every piece of several parts is merged: a thin piece reads its parts, which here are bodies in object storage.</summary>
        public int MinMergedProfiles => 2;

        public async Task<IReadOnlyList<PendingPiece>> PendingAsync(int level, long nowUnixNanos, bool settledOnly, CancellationToken cancellationToken)
        {
            var width = BucketGrid.Width(level) / 1_000_000_000;
            var now = UnixNanos.ToDateTimeOffset(nowUnixNanos);
            var before = FloorDiv(UnixNanos.From(settledOnly ? now - BucketGrid.LateWrites : now) / 1_000_000_000, width) * width;
            var since = Math.Max(0, FloorDiv(UnixNanos.From(now - BucketLookBack) / 1_000_000_000, width) * width);
            var range = $"created_at >= toDateTime({since}) AND created_at < toDateTime({before})";
            var totals = await CountsAsync(level, range, perSet: false, cancellationToken);
            var built = await BuiltAsync(width, $"bucket >= toDateTime({since}) AND all_labels = {(int)PieceKind.AllLabels}", cancellationToken);
            var stale = totals.Where(t => built.GetValueOrDefault(t.Key) != t.Value).Select(t => t.Key).ToList();
            var groups = await GroupCountsAsync(level, range, cancellationToken);
            var groupsBuilt = groups.Count == 0 ? [] : await BuiltAsync(width, $"bucket >= toDateTime({since}) AND all_labels = {(int)PieceKind.Group}", cancellationToken);
            var staleGroups = groups.Where(g => groupsBuilt.GetValueOrDefault(g.Key) != g.Value).Select(g => g.Key).ToList();
            if (level == PieceLevels[^1])
                Volatile.Write(ref store._uncounted, 0);
            if (stale.Count == 0 && staleGroups.Count == 0)
                return [];
            Interlocked.Add(ref store._pendingBuckets, stale.Count);

            // Each set's count and piece in the stale buckets only.
            var buckets = string.Join(",", stale.Concat(staleGroups).Select(s => s.Bucket).Distinct().Select(b => b.ToString(CultureInfo.InvariantCulture)));
            var sets = await CountsAsync(level, $"{range} AND toUInt32(intDiv(toUInt32(created_at), {width}) * {width}) IN ({buckets})", perSet: true, cancellationToken);
            var setsBuilt = await BuiltAsync(width, $"bucket >= toDateTime({since}) AND all_labels = {(int)PieceKind.LabelSet} AND toUInt32(bucket) IN ({buckets})", cancellationToken);
            var staleSet = stale.Concat(staleGroups).Select(s => (s.Service, s.Type, s.Bucket)).ToHashSet();
            var pending = new List<PendingPiece>();
            foreach (var (key, count) in sets.Where(s => staleSet.Contains((s.Key.Service, s.Key.Type, s.Key.Bucket))))
            {
                if (setsBuilt.GetValueOrDefault(key) != count)
                    pending.Add(new PendingPiece(key.Service, key.Type, level, key.Bucket * 1_000_000_000, key.Labels, 0, count));
            }

            foreach (var key in stale)
                pending.Add(new PendingPiece(key.Service, key.Type, level, key.Bucket * 1_000_000_000, BucketGrid.AllLabels, 0, totals[key]));
            foreach (var key in staleGroups)
                pending.Add(new PendingPiece(key.Service, key.Type, level, key.Bucket * 1_000_000_000, key.Labels, 0, groups[key]));
            return [.. pending.OrderBy(p => p.Service, StringComparer.Ordinal).ThenBy(p => p.Type).ThenBy(p => p.Bucket)];
        }

        /// <summary>Profiles per bucket (its start in seconds) in the range, of all sets together or per set.</summary>
        private async Task<Dictionary<(string Service, ProfileType Type, long Bucket, string Labels), long>> CountsAsync(
            int level, string where, bool perSet, CancellationToken cancellationToken)
        {
            var width = BucketGrid.Width(level) / 1_000_000_000;
            var labels = perSet ? ", label_keys, label_values" : "";
            var reader = new RowBinaryReader(await store.QueryAsync(
                $"SELECT service, type, toUInt32(intDiv(toUInt32(created_at), {width}) * {width}) AS b{labels}, toUInt32(count()) FROM {store._db}.profiles " +
                $"WHERE type != {(int)ProfileType.Trace} AND {where} GROUP BY service, type, b{labels}", cancellationToken));
            var counts = new Dictionary<(string, ProfileType, long, string), long>();
            while (!reader.End)
            {
                var (service, type, bucket) = (reader.String(), (ProfileType)reader.UInt8(), (long)reader.UInt32());
                var key = (service, type, bucket, perSet ? LabelKey([.. reader.Strings().Zip(reader.Strings(), (k, v) => new ProfileLabel(k, v))]) : BucketGrid.AllLabels);
                counts[key] = counts.GetValueOrDefault(key) + reader.UInt32();
            }

            return counts;
        }

        /// <summary>
        /// Profiles per bucket (its start in seconds) of each group the range's label sets call for, per service and type
        /// (<see cref="LabelGroups.Choose"/>): one query for the sets, once a pass (at its first level, the finest, whose
        /// range the coarser ones' cover), and one for the counts of the chosen pairs.
        /// </summary>
        private async Task<Dictionary<(string Service, ProfileType Type, long Bucket, string Labels), long>> GroupCountsAsync(
            int level, string where, CancellationToken cancellationToken)
        {
            if (level == PieceLevels[^1] || _chosen is null)
                _chosen = await ChooseGroupsAsync(where, cancellationToken);
            var chosen = _chosen;
            var counts = new Dictionary<(string, ProfileType, long, string), long>();
            if (chosen.Count == 0)
                return counts;
            var width = BucketGrid.Width(level) / 1_000_000_000;
            var pairs = string.Join(",", chosen.Select(c => $"({Literal(c.Service)}, {(int)c.Type}, {Literal(c.Pair.Key)}, {Literal(c.Pair.Value)})"));
            var reader = new RowBinaryReader(await store.QueryAsync(
                $"SELECT service, type, toUInt32(intDiv(toUInt32(created_at), {width}) * {width}) AS b, k, v, toUInt32(count()) FROM {store._db}.profiles " +
                $"ARRAY JOIN label_keys AS k, label_values AS v WHERE type != {(int)ProfileType.Trace} AND {where} AND (service, type, k, v) IN ({pairs}) " +
                "GROUP BY service, type, b, k, v", cancellationToken));
            while (!reader.End)
            {
                var (service, type, bucket) = (reader.String(), (ProfileType)reader.UInt8(), (long)reader.UInt32());
                counts[(service, type, bucket, LabelGroups.Of(new ProfileLabel(reader.String(), reader.String())))] = reader.UInt32();
            }

            return counts;
        }

        /// <summary>The pairs whose groups the range's label sets call for, per service and type.</summary>
        private async Task<List<(string Service, ProfileType Type, ProfileLabel Pair)>> ChooseGroupsAsync(string where, CancellationToken cancellationToken)
        {
            var reader = new RowBinaryReader(await store.QueryAsync(
                $"SELECT DISTINCT service, type, label_keys, label_values FROM {store._db}.profiles WHERE type != {(int)ProfileType.Trace} AND {where}", cancellationToken));
            var sets = new Dictionary<(string Service, ProfileType Type), List<IReadOnlyList<ProfileLabel>>>();
            while (!reader.End)
            {
                var key = (reader.String(), (ProfileType)reader.UInt8());
                if (!sets.TryGetValue(key, out var list))
                    sets[key] = list = [];
                list.Add([.. reader.Strings().Zip(reader.Strings(), (k, v) => new ProfileLabel(k, v))]);
            }

            return [.. sets.SelectMany(s => LabelGroups.Choose(s.Value).Select(g => (s.Key.Service, s.Key.Type, LabelGroups.PairOf(g))))];
        }

        /// <summary>How many profiles the latest piece of each bucket (its start in seconds) and label key holds.</summary>
        private async Task<Dictionary<(string Service, ProfileType Type, long Bucket, string Labels), long>> BuiltAsync(
            long width, string where, CancellationToken cancellationToken)
        {
            var reader = new RowBinaryReader(await store.QueryAsync(
                $"SELECT service, type, toUInt32(bucket), all_labels, label_keys, label_values, argMax(profiles, built) FROM {store._db}.bucket_pieces " +
                $"WHERE width = {width} AND {where} GROUP BY service, type, bucket, all_labels, label_keys, label_values", cancellationToken));
            var built = new Dictionary<(string, ProfileType, long, string), long>();
            while (!reader.End)
            {
                var (service, type, bucket, kind) = (reader.String(), (ProfileType)reader.UInt8(), (long)reader.UInt32(), (PieceKind)reader.UInt8());
                built[(service, type, bucket, KeyOf(kind, [.. reader.Strings().Zip(reader.Strings(), (k, v) => new ProfileLabel(k, v))]))] = reader.UInt32();
            }

            return built;
        }

        public async Task<PieceParts<string>?> PartsAsync(PendingPiece piece, CancellationToken cancellationToken)
        {
            var nanos = BucketGrid.Width(piece.Level);
            List<PiecePart<string>> parts;
            var finest = piece.Level == PieceLevels[^1];
            if (finest && store._folds.Covers(piece))
            {
                // Merged as it was written through this collector: no body read from storage, none decoded again.
                var metas = await BucketMetasAsync(piece, nanos, cancellationToken);
                var raw = piece.Labels == BucketGrid.AllLabels ? metas.SelectMany(m => m).ToList() : [.. metas[piece.Labels]];
                if (raw.Count >= 2 && raw.Count == piece.Mark)
                {
                    var merged = store._folds.TakeLanded(piece, UnixNanos.From(store._time.GetUtcNow()), Landing, () => [.. raw.Select(m => m.Id)], out var wait);
                    if (wait)
                    {
                        Volatile.Write(ref store._writtenSincePass, 1); // the next pass comes soon, not in BucketPass
                        return null;
                    }

                    if (merged is not null)
                        return new PieceParts<string>([.. raw.Select(RawPart)], merged);
                }
            }

            if (finest && !LabelGroups.IsGroup(piece.Labels))
            {
                parts = [.. (await BucketMetasAsync(piece, nanos, cancellationToken))[piece.Labels].Select(RawPart)];
            }
            else
            {
                // A group's piece from the pieces of the sets it holds beside it; a coarser piece from its finer ones.
                var finer = finest ? piece.Level : PieceLevels[Array.IndexOf(PieceLevels, piece.Level) + 1];
                var width = BucketGrid.Width(finer) / 1_000_000_000;
                var first = piece.Bucket / 1_000_000_000 / width;
                var last = (piece.Bucket + nanos) / 1_000_000_000 / width - 1;
                var (kind, filter) = RowOf(piece.Labels);
                var fromSets = finer == piece.Level;
                var pieces = await store.LatestPiecesAsync(piece.Service, piece.Type, width, first, last, fromSets ? PieceKind.LabelSet : kind, filter, null, cancellationToken);
                // A filter matches the sets with more labels too: a set's own pieces only, every set's that a group holds.
                parts = [.. pieces.Where(p => (fromSets && kind != PieceKind.LabelSet) || p.Key.Labels == piece.Labels)
                    .OrderBy(p => p.Key.Bucket).ThenBy(p => p.Key.Labels, StringComparer.Ordinal)
                    .Select(p => new PiecePart<string>(p.Value.Profiles, 0, p.Value.Body, null))];
            }

            // Fewer or more than counted: a part is not built yet, or a profile came since the count; a later pass.
            return parts.Sum(p => p.Profiles) == piece.Mark ? new PieceParts<string>(parts) : null;
        }

        private static PiecePart<string> RawPart(ProfileMeta meta) => new(1, meta.Value, null, meta.Id);

        /// <summary>The profiles of a bucket by label set: one find for each of its sets in turn.</summary>
        private async Task<ILookup<string, ProfileMeta>> BucketMetasAsync(PendingPiece piece, long nanos, CancellationToken cancellationToken)
        {
            if (_foundMetas is null || _found != (piece.Service, piece.Type, piece.Bucket))
            {
                var metas = await store.FindAsync(new ProfileQuery(piece.Service, piece.Type, piece.Bucket, piece.Bucket + nanos - 1, []), cancellationToken);
                (_found, _foundMetas) = ((piece.Service, piece.Type, piece.Bucket), metas.ToLookup(m => LabelKey(m.Labels), StringComparer.Ordinal));
            }

            return _foundMetas;
        }

        public IAsyncEnumerable<byte[]> ReadAsync(IReadOnlyList<string> raw, CancellationToken cancellationToken) => store.OpenAsync(raw, cancellationToken);

        public async Task WriteAsync(IReadOnlyList<(PendingPiece Piece, BuiltPiece<string> Built)> pieces, CancellationToken cancellationToken)
        {
            var rows = new RowBinaryWriter();
            var count = 0;
            foreach (var (piece, built) in pieces)
            {
                if (piece.Labels == BucketGrid.AllLabels)
                    Interlocked.Decrement(ref store._pendingBuckets);
                if (!built.Mergeable || built.Empty)
                    continue; // a bucket that does not merge is read raw, as a merge of it would fail anyway
                var (kind, labels) = RowOf(piece.Labels);
                rows.String(piece.Service);
                rows.UInt8((byte)piece.Type);
                rows.UInt32((uint)(BucketGrid.Width(piece.Level) / 1_000_000_000));
                rows.UInt32((uint)(piece.Bucket / 1_000_000_000));
                rows.UInt8((byte)kind);
                rows.Strings([.. labels.Select(l => l.Key)]);
                rows.Strings([.. labels.Select(l => l.Value)]);
                rows.UInt32((uint)built.Profiles);
                rows.Int64(store._time.GetUtcNow().UtcTicks);
                // Gzipped as pprof is on the wire: a third of the raw bytes to send and keep, and the merge's decoder reads either.
                rows.Bytes(built.Body!);
                count++;
            }

            if (count == 0)
                return;
            await store.InsertAsync("bucket_pieces", rows.Written);
        }
    }
}
