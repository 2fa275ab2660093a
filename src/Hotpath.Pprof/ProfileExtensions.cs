using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof;

/// <summary>Reading helpers over the generated model.</summary>
public static class ProfileExtensions
{
    /// <summary>The sum of each value column over all samples, in sample-type order.</summary>
    public static long[] Totals(this Profile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var totals = new long[profile.SampleType.Count];
        foreach (var sample in profile.Sample)
        {
            for (var i = 0; i < totals.Length && i < sample.Value.Count; i++)
                totals[i] += sample.Value[i];
        }

        return totals;
    }

    /// <summary>The sample types as "type/unit" strings.</summary>
    public static string[] SampleTypeNames(this Profile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return [.. profile.SampleType.Select(t => profile.StringTable[(int)t.Type] + "/" + profile.StringTable[(int)t.Unit])];
    }

    /// <summary>
    /// The profile with one sample type only (what Pyroscope's SelectMergeProfile answers): the others' values
    /// dropped, samples left without a value removed, the default sample type cleared. Modifies the profile.
    /// </summary>
    public static Profile OnlySampleType(this Profile profile, int sampleType)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentOutOfRangeException.ThrowIfNegative(sampleType);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(sampleType, profile.SampleType.Count);
        var kept = profile.SampleType[sampleType];
        profile.SampleType.Clear();
        profile.SampleType.Add(kept);
        profile.DefaultSampleType = 0;
        var samples = profile.Sample.Where(s => sampleType < s.Value.Count && s.Value[sampleType] != 0).ToList();
        foreach (var sample in samples)
        {
            var value = sample.Value[sampleType];
            sample.Value.Clear();
            sample.Value.Add(value);
        }

        profile.Sample.Clear();
        profile.Sample.AddRange(samples);
        return profile;
    }

    /// <summary>
    /// The profile with only the samples whose stacks run through a call site (Pyroscope's stack trace selector):
    /// their function names from the root, inlined frames expanded, begin with <paramref name="rootFirst"/>.
    /// Nothing is dropped for an empty call site. Modifies the profile.
    /// </summary>
    public static Profile ThroughCallSite(this Profile profile, IReadOnlyList<string> rootFirst)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(rootFirst);
        if (rootFirst.Count == 0)
            return profile;
        var stacks = new Analysis.StackResolver(profile);
        var samples = profile.Sample.Where(sample =>
        {
            var frames = stacks.Frames(sample); // leaf first
            if (frames.Count < rootFirst.Count)
                return false;
            for (var i = 0; i < rootFirst.Count; i++)
            {
                if (frames[frames.Count - 1 - i] != rootFirst[i])
                    return false;
            }

            return true;
        }).ToList();
        profile.Sample.Clear();
        profile.Sample.AddRange(samples);
        return profile;
    }
}
