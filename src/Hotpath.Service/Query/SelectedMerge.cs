using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Proto;
using Hotpath.Storage;

namespace Hotpath.Service.Query;

/// <summary>
/// The merge a view shows: the merge of a selection with its aggregation, the sample type asked for, and its
/// samples narrowed by pprof sample labels and grouped by one (<see cref="SampleSelection"/>).
/// </summary>
/// <param name="Merged">The whole merge (its sample labels are offered before any narrowing).</param>
/// <param name="Selected">The merge with the selection applied.</param>
/// <param name="Index">The sample type shown.</param>
/// <param name="Count">How many stored profiles the merge holds.</param>
public sealed record SelectedMerge(Profile Merged, Profile Selected, int Index, int Count, Aggregation Aggregation)
{
    public static async Task<SelectedMerge> ReadAsync(MergeService merger, ProfileQuery query, Aggregation aggregation, string? sampleType,
        SampleSelection selection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(merger);
        ArgumentNullException.ThrowIfNull(selection);
        var (merged, count) = await merger.MergeSelectionAsync(query, aggregation, cancellationToken).ConfigureAwait(false);
        return new SelectedMerge(merged, selection.Apply(merged), SampleTypeIndex(merged, sampleType), count, aggregation);
    }

    /// <summary>The index of the sample type named (null or empty: the profile's default one).</summary>
    /// <exception cref="InvalidRequestException">The profile has no such sample type.</exception>
    public static int SampleTypeIndex(Profile profile, string? name)
    {
        try
        {
            return TopTable.SampleTypeIndex(profile, name);
        }
        catch (ArgumentException e)
        {
            throw new InvalidRequestException(e.Message);
        }
    }
}
