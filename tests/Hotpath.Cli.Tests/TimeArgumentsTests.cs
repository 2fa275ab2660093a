namespace Hotpath.Cli.Tests;

public sealed class TimeArgumentsTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("15m", 15 * 60)]
    [InlineData("2h", 2 * 3600)]
    [InlineData("7d", 7 * 86400)]
    [InlineData("30s", 30)]
    [InlineData("90", 90)]
    public void Durations_read_as_that_long_before_now(string text, int seconds)
    {
        Assert.Equal(Now.AddSeconds(-seconds), TimeArguments.ParsePoint(text, Now));
    }

    [Theory]
    [InlineData("2026-11-28T10:00:00", "2026-11-28T10:00:00Z")]
    [InlineData("2026-11-28T11:00:00+01:00", "2026-11-28T10:00:00Z")]
    [InlineData("2026-11-28T10:00:00Z", "2026-11-28T10:00:00Z")]
    public void Absolute_times_read_in_the_api_layout_and_rfc3339(string text, string utc)
    {
        Assert.Equal(DateTimeOffset.Parse(utc, System.Globalization.CultureInfo.InvariantCulture), TimeArguments.ParsePoint(text, Now));
    }

    [Fact]
    public void The_window_defaults_to_the_last_hour_and_since_counts_back_from_to()
    {
        Assert.Equal((Now.AddHours(-1), Now), TimeArguments.Window(null, null, null, Now));
        Assert.Equal((Now.AddHours(-5), Now.AddHours(-3)), TimeArguments.Window("2h", null, "3h", Now));
        Assert.Equal((Now.AddDays(-1), Now.AddHours(-1)), TimeArguments.Window("15m", "1d", "1h", Now));
    }

    [Theory]
    [InlineData("yesterday")]
    [InlineData("5x")]
    [InlineData("-3h")]
    public void Nonsense_is_an_error_that_names_the_forms(string text)
    {
        var e = Assert.Throws<ArgumentException>(() => TimeArguments.ParsePoint(text, Now));
        Assert.Contains("15m", e.Message);
    }

    [Fact]
    public void A_window_that_ends_before_it_starts_is_an_error()
    {
        Assert.Throws<ArgumentException>(() => TimeArguments.Window(null, "1h", "2h", Now));
    }
}
