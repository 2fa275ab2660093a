using System.Globalization;

namespace Hotpath.Testing;

/// <summary>
/// The clock of the tests and of the collectors they start. <c>HOTPATH_TEST_CLOCK_AHEAD</c> (a TimeSpan, as
/// <c>365.00:00:00</c>) moves it into the future: test.sh runs the time-sensitive projects so a second time,
/// so that a test whose data ages out (the corpus was recorded on one day) fails the day it is written.
/// In-process collectors read <see cref="Provider"/>; collector processes run under faketime.
/// </summary>
public static class TestClock
{
    public static TimeSpan Ahead { get; } = Environment.GetEnvironmentVariable("HOTPATH_TEST_CLOCK_AHEAD") is { Length: > 0 } text
        ? TimeSpan.Parse(text, CultureInfo.InvariantCulture)
        : TimeSpan.Zero;

    public static TimeProvider Provider { get; } = Ahead == TimeSpan.Zero ? TimeProvider.System : new ShiftedClock(Ahead);

    public static DateTimeOffset UtcNow => Provider.GetUtcNow();
}
