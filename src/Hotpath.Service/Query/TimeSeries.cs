using Hotpath.Pprof;
using Hotpath.Storage;

namespace Hotpath.Service.Query;

/// <summary>A selection's profiles over time: the count and the summed main value per bucket of its window.</summary>
public sealed class TimeSeries
{
    private readonly ulong _span;
    private readonly int[] _counts;
    private readonly long[] _values;

    private TimeSeries(long from, ulong step, ulong span, int buckets)
    {
        From = from;
        Step = step;
        _span = span;
        _counts = new int[buckets];
        _values = new long[buckets];
    }

    /// <summary>The window's start, Unix nanoseconds.</summary>
    public long From { get; }

    /// <summary>A bucket's width in nanoseconds (unsigned: a window may span every time nanoseconds hold).</summary>
    public ulong Step { get; }

    public IReadOnlyList<int> Counts => _counts;

    /// <summary>Each bucket's summed main value (saturating).</summary>
    public IReadOnlyList<long> Values => _values;

    public int Profiles => _counts.Sum();

    public long Value => Saturating.Sum(_values);

    /// <summary>Where bucket <paramref name="index"/> starts, Unix nanoseconds.</summary>
    public long BucketStart(int index) => (long)((ulong)From + Math.Min((ulong)index * Step, _span));

    public static async Task<TimeSeries> ReadAsync(IProfileReader reader, ProfileQuery query, int buckets, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(query);
        var series = Empty(query, buckets);
        // Pieces no wider than a bucket, each counted where it starts.
        foreach (var point in await reader.SeriesAsync(query, series.Resolution, cancellationToken).ConfigureAwait(false))
            series.Count(point);
        return series;
    }

    /// <summary>The series of each value of <paramref name="key"/> among the selection, from one read of the store.</summary>
    public static async Task<Dictionary<string, TimeSeries>> ReadByLabelAsync(IProfileReader reader, ProfileQuery query, string key, int buckets,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(query);
        var resolution = Empty(query, buckets).Resolution;
        var byValue = new Dictionary<string, TimeSeries>(StringComparer.Ordinal);
        foreach (var (value, point) in await reader.SeriesByLabelAsync(query, key, resolution, cancellationToken).ConfigureAwait(false))
        {
            if (!byValue.TryGetValue(value, out var series))
                byValue[value] = series = Empty(query, buckets);
            series.Count(point);
        }

        return byValue;
    }

    private long Resolution => (long)Math.Min(Step, long.MaxValue);

    private static TimeSeries Empty(ProfileQuery query, int buckets)
    {
        var span = Math.Max(1UL, (ulong)(query.ToUnixNanos - query.FromUnixNanos));
        var step = span / (ulong)buckets + (span % (ulong)buckets == 0 ? 0UL : 1UL);
        return new TimeSeries(query.FromUnixNanos, step, span, buckets);
    }

    private void Count(SeriesPoint point)
    {
        var i = (int)Math.Min((ulong)_counts.Length - 1, (ulong)(point.TimeUnixNanos - From) / Step);
        _counts[i] += point.Profiles;
        _values[i] = Saturating.Add(_values[i], point.Value);
    }
}
