namespace Hotpath.Service.Query.Changes;

/// <summary>What counts as a change.</summary>
/// <param name="ThresholdPoints">
/// The least change of a share, in percentage points, that is a regression or an improvement (appeared and vanished
/// functions are reported below it, and count as regressions only above it).
/// </param>
/// <param name="Confidence">
/// How sure a change must be: one minus the largest p-value, after the correction for the number of tests, that is
/// reported (0.99: a family of noise-only comparisons reports anything at most once in a hundred).
/// </param>
/// <param name="MaxFunctions">Most functions a report lists, the largest changes first.</param>
public sealed record ChangeCriteria(double ThresholdPoints = 1.0, double Confidence = 0.99, int MaxFunctions = 20)
{
    /// <exception cref="InvalidRequestException">A value is out of its range.</exception>
    public void Validate()
    {
        if (!(ThresholdPoints >= 0 && ThresholdPoints <= 100))
            throw new InvalidRequestException($"threshold {ThresholdPoints} is not a number of percentage points from 0 to 100");
        if (!(Confidence > 0 && Confidence < 1))
            throw new InvalidRequestException($"confidence {Confidence} is not between 0 and 1 (e.g. 0.99)");
        if (MaxFunctions < 1)
            throw new InvalidRequestException($"top {MaxFunctions} is not a positive number of functions");
    }
}
