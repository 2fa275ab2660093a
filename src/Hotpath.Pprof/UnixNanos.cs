namespace Hotpath.Pprof;

/// <summary>
/// Times as pprof and every store keep them: signed 64-bit nanoseconds since the Unix epoch, which reach
/// from 1677-09-21 to 2262-04-11. Conversions here never wrap around: a time outside that range is refused
/// or clamped, as the caller chooses.
/// </summary>
public static class UnixNanos
{
    /// <summary>The earliest time that nanoseconds hold, rounded up to a whole tick.</summary>
    public static DateTimeOffset MinTime { get; } = DateTimeOffset.UnixEpoch.AddTicks(long.MinValue / TimeSpan.NanosecondsPerTick);

    /// <summary>The latest time that nanoseconds hold, rounded down to a whole tick.</summary>
    public static DateTimeOffset MaxTime { get; } = DateTimeOffset.UnixEpoch.AddTicks(long.MaxValue / TimeSpan.NanosecondsPerTick);

    /// <summary>The time in nanoseconds, or false when it lies outside <see cref="MinTime"/>..<see cref="MaxTime"/>.</summary>
    public static bool TryFrom(DateTimeOffset time, out long nanos)
    {
        if (time < MinTime || time > MaxTime)
        {
            nanos = 0;
            return false;
        }

        nanos = (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * TimeSpan.NanosecondsPerTick;
        return true;
    }

    /// <summary>The time in nanoseconds; a time outside the range becomes its nearest end.</summary>
    public static long Clamp(DateTimeOffset time) =>
        TryFrom(time, out var nanos) ? nanos : time < MinTime ? long.MinValue : long.MaxValue;

    /// <summary>The time in nanoseconds of a time known to be in range (now, a recent window).</summary>
    public static long From(DateTimeOffset time) =>
        TryFrom(time, out var nanos) ? nanos : throw new ArgumentOutOfRangeException(nameof(time), time, "outside the times 64-bit nanoseconds hold");

    /// <summary>The time of Unix nanoseconds (to the 100 ns tick).</summary>
    public static DateTimeOffset ToDateTimeOffset(long nanos) => DateTimeOffset.UnixEpoch.AddTicks(nanos / TimeSpan.NanosecondsPerTick);

    /// <summary>The range as text, for error messages.</summary>
    public static string RangeText { get; } = $"{ProfileTime.FormatSeconds(MinTime)} to {ProfileTime.FormatSeconds(MaxTime)}";
}
