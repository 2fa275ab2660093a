namespace Hotpath.Storage.Pieces;

/// <summary>
/// Plans a merge of a selection over an engine's pre-merged pieces: per label set the query reads, the coarsest
/// pieces that fit inside the range, finer ones towards its edges and in place of stale buckets, and raw
/// profiles for what no piece covers (the partial finest buckets at the edges, and stale ones). Level by level,
/// coarsest first, each level asked once for every label set, so an engine that answers in one round trip
/// (ClickHouse) plans a week in a few.
/// </summary>
public sealed class PiecePlanner<TBody>(IPieceIndex<TBody> index)
{
    /// <summary>Plans with pieces no wider than <paramref name="maxWidth"/> nanoseconds (a series needs buckets of its step or finer).</summary>
    /// <param name="byLabel">
    /// To group by this label: from the pieces of its groups (<see cref="LabelGroups"/>) where the engine keeps them,
    /// else of each label set the query selects; never from the all-labels set's.
    /// </param>
    public async Task<PiecePlan<TBody>> PlanAsync(ProfileQuery query, CancellationToken cancellationToken, long maxWidth = long.MaxValue, string? byLabel = null)
    {
        ArgumentNullException.ThrowIfNull(query);
        var parts = new List<PlannedPiece<TBody>>();
        // [from, to] is inclusive; buckets are half open.
        var end = query.ToUnixNanos == long.MaxValue ? long.MaxValue : query.ToUnixNanos + 1;
        if (query.FromUnixNanos >= end)
            return new PiecePlan<TBody>(parts);
        var open = (await index.LabelSetsAsync(query, byLabel, cancellationToken).ConfigureAwait(false))
            .Select(labels => new SetRange(labels, query.FromUnixNanos, end)).ToList();
        foreach (var level in index.Levels)
        {
            if (open.Count == 0)
                break;
            var width = BucketGrid.Width(level);
            if (width > maxWidth)
                continue;
            var whole = new List<SetRange>();
            var rest = new List<SetRange>();
            foreach (var range in open)
                Split(range, level, whole, rest);
            if (whole.Count == 0)
                continue;
            var loaded = await index.LoadAsync(query, level, whole, cancellationToken).ConfigureAwait(false);
            parts.AddRange(loaded.Pieces);
            foreach (var (labels, bucket) in loaded.Stale)
                rest.Add(new SetRange(labels, bucket, bucket + width));
            open = Coalesce(rest);
        }

        if (open.Count > 0)
            parts.AddRange(await index.RawAsync(query, open, cancellationToken).ConfigureAwait(false));
        parts.Sort((a, b) => a.Time.CompareTo(b.Time));
        return new PiecePlan<TBody>(parts);
    }

    /// <summary>Splits a range into the whole buckets of the level that the engine's span holds, and the rest.</summary>
    private void Split(SetRange range, int level, List<SetRange> whole, List<SetRange> rest)
    {
        var width = BucketGrid.Width(level);
        var (spanFrom, spanEnd) = index.Span;
        var from = Math.Max(range.From, spanFrom);
        var end = Math.Min(range.End, spanEnd);
        if (from >= end)
        {
            rest.Add(range);
            return;
        }

        // The span keeps both ends far from long's limits, so this arithmetic cannot overflow.
        var floor = BucketGrid.Floor(level, from);
        var firstWhole = floor == from ? from : floor + width;
        var endWhole = BucketGrid.Floor(level, end);
        if (firstWhole >= endWhole)
        {
            rest.Add(range);
            return;
        }

        if (range.From < firstWhole)
            rest.Add(range with { End = firstWhole });
        whole.Add(range with { From = firstWhole, End = endWhole });
        if (endWhole < range.End)
            rest.Add(range with { From = endWhole });
    }

    /// <summary>The ranges with those of a label set that touch made one, so the raw reads are as few as can be.</summary>
    private static List<SetRange> Coalesce(List<SetRange> ranges)
    {
        ranges.Sort((a, b) => string.CompareOrdinal(a.Labels, b.Labels) is var byLabels and not 0 ? byLabels : a.From.CompareTo(b.From));
        var coalesced = new List<SetRange>(ranges.Count);
        foreach (var range in ranges)
        {
            if (coalesced.Count > 0 && coalesced[^1] is var last && last.Labels == range.Labels && last.End >= range.From)
                coalesced[^1] = last with { End = Math.Max(last.End, range.End) };
            else
                coalesced.Add(range);
        }

        return coalesced;
    }
}
