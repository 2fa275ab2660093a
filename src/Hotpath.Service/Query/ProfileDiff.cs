using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Proto;
using Hotpath.Storage;

namespace Hotpath.Service.Query;

/// <summary>
/// A comparison against a baseline: one flame tree holding both, and every function of either, ranked by how
/// much its share of self value moved.
/// </summary>
/// <param name="Comparison">The comparison's merge, whose sample types the view lists.</param>
/// <param name="Index">The sample type shown, in the comparison.</param>
public sealed record ProfileDiff(Profile Comparison, int Index, int Count, int BaselineCount, Aggregation Aggregation, FlameTree Flame, IReadOnlyList<DiffRow> Rows)
{
    public static async Task<ProfileDiff> ReadAsync(MergeService merger, ProfileQuery baselineQuery, ProfileQuery comparisonQuery, Aggregation aggregation,
        string? sampleType, SampleSelection selection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(merger);
        ArgumentNullException.ThrowIfNull(selection);
        // The two merges at once: each is mostly waiting on the store.
        var baselineMerge = merger.MergeSelectionAsync(baselineQuery, aggregation, cancellationToken);
        var comparisonMerge = merger.MergeSelectionAsync(comparisonQuery, aggregation, cancellationToken);
        await Task.WhenAll(baselineMerge, comparisonMerge).ConfigureAwait(false);
        var (baseline, baselineCount) = await baselineMerge.ConfigureAwait(false);
        var (comparison, comparisonCount) = await comparisonMerge.ConfigureAwait(false);
        var index = SelectedMerge.SampleTypeIndex(comparison, sampleType);
        var baselineIndex = SelectedMerge.SampleTypeIndex(baseline, comparison.StringTable[(int)comparison.SampleType[index].Type]);

        var view = ProfileView.Build(selection.Apply(comparison), index, selection.Apply(baseline), baselineIndex);
        var flame = view.Flame;
        var before = view.BaselineTop!.Rows.ToDictionary(r => r.Function, StringComparer.Ordinal);
        var present = view.Top.Rows.Select(r => r.Function).ToHashSet(StringComparer.Ordinal);
        var rows = view.Top.Rows
            .Select(r => (Row: r, Before: before.GetValueOrDefault(r.Function)))
            .Select(r => new DiffRow(r.Row.Function, r.Row.File, r.Row.Flat, r.Row.Cumulative, r.Before?.Flat ?? 0, r.Before?.Cumulative ?? 0))
            .Concat(before.Values.Where(b => !present.Contains(b.Function)).Select(b => new DiffRow(b.Function, b.File, 0, 0, b.Flat, b.Cumulative)))
            .ToList();
        var total = flame.Root.Total;
        var baselineTotal = flame.Root.BaselineTotal;
        static double Share(long value, long of) => of == 0 ? 0 : (double)value / of;
        rows.Sort((a, b) => Math.Abs(Share(b.Self, total) - Share(b.BaselineSelf, baselineTotal))
            .CompareTo(Math.Abs(Share(a.Self, total) - Share(a.BaselineSelf, baselineTotal))));
        return new ProfileDiff(comparison, index, comparisonCount, baselineCount, aggregation, flame, rows);
    }
}
