using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof;

/// <summary>
/// Turns the cumulative columns of a snapshot (Go's heap <c>alloc_*</c>: totals since the process started)
/// into what happened since the previous snapshot, keeping the gauges (<c>inuse_*</c>) as they are: what
/// Pyroscope's and Parca's Go scrapers do, so that merging a range of heap profiles counts each allocation once.
/// </summary>
public static class CumulativeDelta
{
    /// <summary>
    /// The current snapshot with its cumulative columns made deltas since <paramref name="previous"/>. Without a
    /// previous snapshot the cumulative columns are zeroed (what they hold happened at unknown times before);
    /// after a restart (a column went down) the current totals are the delta since the restart.
    /// </summary>
    public static Profile Since(Profile current, Profile? previous)
    {
        ArgumentNullException.ThrowIfNull(current);
        var gauges = Aggregations.GaugeColumns(current);
        var delta = current.Clone();
        if (previous is null || !SameSampleTypes(current, previous))
        {
            delta.ScaleN([.. gauges.Select(gauge => gauge ? 1.0 : 0.0)]);
            return delta;
        }

        var now = current.Totals();
        var before = previous.Totals();
        if (Enumerable.Range(0, gauges.Length).Any(i => !gauges[i] && now[i] < before[i]))
            return delta;

        var subtract = previous.Clone();
        subtract.ScaleN([.. gauges.Select(gauge => gauge ? 0.0 : -1.0)]);
        var merger = new ProfileMerger();
        merger.Add(delta);
        merger.Add(subtract);
        var merged = merger.Build();
        // Samples whose allocations all happened before and that hold nothing now are gone.
        merged.ScaleN([.. gauges.Select(_ => 1.0)]);
        merged.TimeNanos = current.TimeNanos;
        merged.DurationNanos = current.TimeNanos > previous.TimeNanos && previous.TimeNanos != 0 ? current.TimeNanos - previous.TimeNanos : 0;
        return merged;
    }

    private static bool SameSampleTypes(Profile a, Profile b) =>
        a.SampleTypeNames().AsSpan().SequenceEqual(b.SampleTypeNames());
}
