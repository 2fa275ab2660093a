using Hotpath.Pprof;
using Hotpath.Storage;

namespace Hotpath.Service.Query;

/// <summary>
/// The tag explorer: the values of a label among a selection's profiles, each with its series, its total of
/// the main value and its share, the largest first (at most <see cref="MaxValues"/>).
/// </summary>
/// <param name="ValuesFound">How many values the selection holds, ranked or not.</param>
public sealed record LabelExploration(string Key, long Total, int ValuesFound, IReadOnlyList<ExploredValue> Values)
{
    public const int MaxValues = 50;

    public static async Task<LabelExploration> ReadAsync(IProfileReader reader, ProfileQuery query, string key, int buckets, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        // One pass over the selection's pieces, grouped by the key's value, however many values there are.
        var explored = (await TimeSeries.ReadByLabelAsync(reader, query, key, buckets, cancellationToken).ConfigureAwait(false))
            .Where(e => !query.Labels.Contains(new ProfileLabel(key, e.Key)) && e.Value.Profiles > 0)
            .ToList();
        var ranked = explored.OrderByDescending(e => e.Value.Value).ThenBy(e => e.Key, StringComparer.Ordinal).Take(MaxValues).ToList();
        var total = Saturating.Sum(ranked, e => e.Value.Value);
        return new LabelExploration(key, total, explored.Count,
            [.. ranked.Select(e => new ExploredValue(e.Key, e.Value, total == 0 ? 0 : (double)e.Value.Value / total))]);
    }
}
