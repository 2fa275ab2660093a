using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof.Analysis;

/// <summary>A profile's samples as function-name stacks (leaf first, inlined frames expanded) with their values.</summary>
public static class ProfileSamples
{
    public static IEnumerable<(IReadOnlyList<string> Stack, IReadOnlyList<long> Values)> Stacks(Profile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var stacks = new StackResolver(profile);
        foreach (var sample in profile.Sample)
            yield return (stacks.Frames(sample), sample.Value);
    }
}
