using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace HotApp;

/// <summary>The hot paths: each burns CPU for the time it is given.</summary>
public static class Work
{
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long Checksum(TimeSpan duration)
    {
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long sum = 0;
        while (Stopwatch.GetTimestamp() < end)
        {
            for (var i = 0; i < 1000; i++)
                sum = (sum * 31) ^ i;
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long Parse(TimeSpan duration)
    {
        var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long total = 0;
        while (Stopwatch.GetTimestamp() < end)
        {
            for (var i = 0; i < 200; i++)
                total += long.Parse("12345", System.Globalization.CultureInfo.InvariantCulture);
        }

        return total;
    }
}
