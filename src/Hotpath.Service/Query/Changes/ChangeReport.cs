namespace Hotpath.Service.Query.Changes;

/// <summary>What changed between a baseline and a target: the functions whose shares moved for sure, largest first.</summary>
/// <param name="IntervalSeconds">The width of the intervals each side was cut into, whose variation the tests measure.</param>
/// <param name="Compared">How many functions were compared.</param>
/// <param name="Changes">At most <see cref="ChangeCriteria.MaxFunctions"/> changes.</param>
/// <param name="Regressions">How many regressions over the threshold there are, listed or not.</param>
public sealed record ChangeReport(string SampleType, string Unit, double IntervalSeconds, ChangeSide Baseline, ChangeSide Target, ChangeCriteria Criteria,
    int Compared, IReadOnlyList<FunctionChange> Changes, int Regressions);
