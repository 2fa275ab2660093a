using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof.Analysis;

/// <summary>
/// What the UI shows of a merge: its flame tree and top table (and, for a diff, the baseline's top table),
/// computed in one pass over each profile's samples, every stack resolved once.
/// </summary>
public sealed record ProfileView(FlameTree Flame, TopTable Top, TopTable? BaselineTop)
{
    public static ProfileView Build(Profile profile, int sampleType, Profile? baseline = null, int baselineSampleType = -1, double minFraction = 0.0005)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var flame = new FlameBuilder();
        var top = Add(flame, profile, sampleType, baseline: false);
        var baselineTop = baseline is null ? null : Add(flame, baseline, baselineSampleType, baseline: true);
        return new ProfileView(flame.Finish(minFraction), top, baselineTop);
    }

    private static TopTable Add(FlameBuilder flame, Profile profile, int sampleType, bool baseline)
    {
        var top = new TopAccumulator();
        foreach (var (frames, value) in StackResolver.Values(profile, sampleType))
        {
            flame.Add(frames, frames.Count, value, baseline);
            top.Add(frames, value);
        }

        return top.ToTable(profile, sampleType);
    }
}
