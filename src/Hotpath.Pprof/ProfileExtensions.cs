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
}
