using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof;

/// <summary>How the profiles of a range combine into one.</summary>
public enum Aggregation
{
    /// <summary>Every value added up: Go's <c>profile.Merge</c>, right for what happened during each profile (cpu, allocations, contention).</summary>
    Sum,

    /// <summary>
    /// Gauge columns (a snapshot of a state: <c>inuse_*</c>, goroutine and thread counts) averaged over time per
    /// instance, and the averages summed across instances, as Pyroscope does; other columns still summed.
    /// Three 8 MB heap snapshots of one instance read 8 MB, not 24.
    /// </summary>
    Average,
}

/// <summary>Which sample types are gauges, and scaling as Go's <c>profile.ScaleN</c> does it.</summary>
public static class Aggregations
{
    /// <summary>"sum" or "avg"; anything else is not an aggregation.</summary>
    public static bool TryParse(string? text, out Aggregation aggregation)
    {
        (var known, aggregation) = text switch
        {
            "sum" => (true, Aggregation.Sum),
            "avg" => (true, Aggregation.Average),
            _ => (false, Aggregation.Sum),
        };
        return known;
    }

    public static string ToWire(this Aggregation aggregation) => aggregation == Aggregation.Average ? "avg" : "sum";

    /// <summary>
    /// A sample type that measures a state at one moment rather than events over the profile's duration:
    /// Go's heap <c>inuse_objects</c>/<c>inuse_space</c>, goroutine and threadcreate counts.
    /// </summary>
    public static bool IsGauge(string sampleType) =>
        sampleType.StartsWith("inuse_", StringComparison.Ordinal) || sampleType is "goroutine" or "goroutines" or "threadcreate" or "threads";

    /// <summary>For each sample type of the profile, whether it is a gauge.</summary>
    public static bool[] GaugeColumns(Profile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return [.. profile.SampleType.Select(t => IsGauge(profile.StringTable[(int)t.Type]))];
    }

    /// <summary>For each sample type (by name), whether it is a gauge.</summary>
    public static bool[] GaugeColumns(IReadOnlyList<string> sampleTypes)
    {
        ArgumentNullException.ThrowIfNull(sampleTypes);
        return [.. sampleTypes.Select(IsGauge)];
    }

    /// <summary>
    /// Multiplies each column by its ratio, rounding to the nearest integer, and drops samples left all zero,
    /// as Go's <c>profile.ScaleN</c> does.
    /// </summary>
    public static void ScaleN(this Profile profile, IReadOnlyList<double> ratios)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(ratios);
        if (ratios.Count != profile.SampleType.Count)
            throw new ArgumentException($"{ratios.Count} ratios for {profile.SampleType.Count} sample types", nameof(ratios));
        var kept = new List<Sample>(profile.Sample.Count);
        foreach (var sample in profile.Sample)
        {
            var allZero = true;
            for (var i = 0; i < sample.Value.Count; i++)
            {
                if (ratios[i] != 1)
                    sample.Value[i] = (long)Math.Round(sample.Value[i] * ratios[i]);
                allZero &= sample.Value[i] == 0;
            }

            if (!allZero)
                kept.Add(sample);
        }

        profile.Sample.Clear();
        profile.Sample.AddRange(kept);
    }
}
