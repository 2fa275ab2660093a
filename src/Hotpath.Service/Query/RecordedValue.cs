using System.Text.RegularExpressions;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Storage;

namespace Hotpath.Service.Query;

/// <summary>What a recording rule measures over a range: a selection's merge, and the part of it in the functions a pattern picks.</summary>
/// <param name="Value">The picked functions' value (the whole profile's without a pattern), in the sample type's unit.</param>
/// <param name="Total">The whole profile's value.</param>
/// <param name="Profiles">How many profiles the range holds.</param>
public readonly record struct RecordedValue(long Value, long Total, int Profiles)
{
    /// <summary>The value's share of the profile, 0 to 1 (0 with no profiles).</summary>
    public double Share => Total == 0 ? 0 : (double)Value / Total;

    /// <param name="function">Picks functions by name (null: the whole profile).</param>
    /// <param name="self">Only samples whose leaf is picked (the functions' self value), not every sample with one on its stack.</param>
    public static async Task<RecordedValue> ReadAsync(MergeService merger, ProfileQuery query, string? sampleType, Regex? function, bool self,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(merger);
        if (await merger.TryMergeSelectionAsync(query, cancellationToken).ConfigureAwait(false) is not var (merged, count))
            return default;
        var index = SelectedMerge.SampleTypeIndex(merged, sampleType);
        var total = Saturating.Sum(merged.Sample, s => s.Value[index]);
        return new RecordedValue(function is null ? total : FunctionValue.Of(merged, index, function.IsMatch, self), total, count);
    }
}
