namespace Hotpath.Service.Query.Changes;

/// <summary>How one measure of a function (its self or its total value) moved.</summary>
/// <param name="BaselineShare">Its mean share of the profile over the baseline's intervals (0 to 1).</param>
/// <param name="TargetShare">The same over the target's.</param>
/// <param name="BaselinePerSecond">Its value per second of the baseline's intervals, in the sample type's unit.</param>
/// <param name="TargetPerSecond">The same over the target's.</param>
/// <param name="PValue">
/// The chance that noise alone moved the share this much (Welch's two-sample test over the intervals' shares),
/// corrected for the number of tests (Holm); 1 when nothing can be said.
/// </param>
public readonly record struct ShareChange(double BaselineShare, double TargetShare, double BaselinePerSecond, double TargetPerSecond, double PValue)
{
    /// <summary>The change of the share in percentage points.</summary>
    public double Points => (TargetShare - BaselineShare) * 100;

    /// <summary>The change of the value per second, in the unit.</summary>
    public double PerSecond => TargetPerSecond - BaselinePerSecond;

    /// <summary>Whether the change is more than noise at <paramref name="confidence"/>.</summary>
    public bool IsSure(double confidence) => PValue < 1 - confidence;
}
