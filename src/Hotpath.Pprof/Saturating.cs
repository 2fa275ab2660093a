namespace Hotpath.Pprof;

/// <summary>
/// Totals of sample values for display and metadata (a profile's value, a bucket's, a series point's). Go's
/// merge sums values with wrap-around, and so does <see cref="ProfileMerger"/>; a total shown to a person
/// stops at the largest value instead, so that no hostile pair of profiles can make one throw or turn negative.
/// </summary>
public static class Saturating
{
    public static long Add(long a, long b)
    {
        var sum = a + b;
        // Overflow only when both have the same sign and the sum has the other one.
        return ((a ^ sum) & (b ^ sum)) < 0 ? (a < 0 ? long.MinValue : long.MaxValue) : sum;
    }

    public static long Sum(IEnumerable<long> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        long sum = 0;
        foreach (var value in values)
            sum = Add(sum, value);
        return sum;
    }

    public static long Sum<T>(IEnumerable<T> items, Func<T, long> value)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(value);
        long sum = 0;
        foreach (var item in items)
            sum = Add(sum, value(item));
        return sum;
    }
}
