using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace HotApp;

/// <summary>
/// The hot paths. The CPU ones burn for the time they are given and return how much work they got done, so
/// that throughput shows what profiling costs while their shares of time stay what they were built to be.
/// </summary>
public static class Work
{
    private static readonly object Gate = new();

    /// <summary>Checksums rounds of 1,000 multiply-xor steps: no calls, so the samples land in it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long Checksum(long rounds, long sum)
    {
        for (long round = 0; round < rounds; round++)
        {
            for (var i = 0; i < 1000; i++)
                sum = (sum * 31) ^ i;
        }

        return sum;
    }

    /// <summary>Parses rounds of 200 numbers: its own time is mostly in the BCL's number parsing below it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long Parse(long rounds, long total)
    {
        for (long round = 0; round < rounds; round++)
        {
            for (var i = 0; i < 200; i++)
                total += long.Parse("12345", CultureInfo.InvariantCulture);
        }

        return total;
    }

    /// <summary>
    /// How many rounds of each take the given milliseconds on this machine, a first estimate measured at start
    /// (after warming up). The busy loop runs amounts of work and never reads a clock inside them: a thread is
    /// only stopped for a stack sample at a safe point, and a clock call in the loop would collect most samples
    /// at its return, hiding the method that really spends the time.
    /// </summary>
    public static (long Checksum, long Parse) Calibrate(int checksumMilliseconds, int parseMilliseconds)
    {
        long RoundsIn(int milliseconds, Func<long, long> work)
        {
            long rounds = 1;
            while (true)
            {
                var started = Stopwatch.GetTimestamp();
                work(rounds);
                var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (elapsed >= 50)
                    return Math.Max(1, (long)(rounds * milliseconds / elapsed));
                rounds *= 2;
            }
        }

        // Tiered compilation moves to optimized code after some steady calls.
        var warming = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(warming).TotalMilliseconds < 500)
        {
            RoundsIn(1, r => Checksum(r, 0));
            RoundsIn(1, r => Parse(r, 0));
        }

        return (RoundsIn(checksumMilliseconds, r => Checksum(r, 0)), RoundsIn(parseMilliseconds, r => Parse(r, 0)));
    }

    /// <summary>Rounds for the next slice, a tenth of the way towards what would have taken the wanted time.</summary>
    public static long Adjust(long rounds, int wantedMilliseconds, TimeSpan took)
    {
        var ideal = rounds * wantedMilliseconds / Math.Max(0.01, took.TotalMilliseconds);
        return Math.Max(1, (long)(rounds + (ideal - rounds) / 10));
    }

    /// <summary>Where allocations escape to, so that the JIT cannot place them on the stack.</summary>
    private static readonly object[] Recent = new object[64];

    /// <summary>The allocation-heavy path: 80% of the bytes HotApp allocates, as byte arrays.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Allocate(int n)
    {
        for (var i = 0; i < 20; i++)
            Recent[(n * 20 + i) % Recent.Length] = new byte[4096];
    }

    /// <summary>The other 20%, as strings (about 20 KB each call).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Describe(int n)
    {
        for (var i = 0; i < 10; i++)
            Recent[(n * 10 + i) % Recent.Length] = new string((char)('a' + (n + i) % 26), 1000);
    }

    /// <summary>The contended lock: holders sleep inside it, so the other workers wait at this site.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Reserve()
    {
        lock (Gate)
            Thread.Sleep(5);
    }
}
