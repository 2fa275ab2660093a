namespace Hotpath.Pprof.Tests;

public sealed class ProfileTimeTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("2026-11-28T10:00:00", "2026-11-28T10:00:00Z")]
    [InlineData("2026-11-28T11:00:00+01:00", "2026-11-28T10:00:00Z")]
    [InlineData("2026-11-28T10:00:00.5Z", "2026-11-28T10:00:00.5Z")]
    public void Times_read_in_the_api_layout_as_utc_and_in_rfc3339_with_a_zone(string text, string utc)
    {
        Assert.True(ProfileTime.TryParse(text, out var time));
        Assert.Equal(DateTimeOffset.Parse(utc, System.Globalization.CultureInfo.InvariantCulture), time);
        Assert.Equal(TimeSpan.Zero, time.Offset);
    }

    [Theory]
    [InlineData("2026-11-28 10:00:00")]
    [InlineData("2026-11-28T10:00:00.5")]
    [InlineData("yesterday")]
    public void A_time_without_a_zone_beyond_the_api_layout_or_in_another_form_is_not_read(string text)
    {
        Assert.False(ProfileTime.TryParse(text, out _));
    }

    [Theory]
    [InlineData("now", 0)]
    [InlineData("now-90", 90)]
    [InlineData("now-15m", 15 * 60)]
    [InlineData("now-1.5h", 90 * 60)]
    [InlineData("now-1w", 7 * 86400)]
    public void Relative_times_count_back_from_now_with_the_same_durations_as_the_cli(string text, int seconds)
    {
        Assert.True(ProfileTime.TryParseRelative(text, Now, out var time));
        Assert.Equal(Now.AddSeconds(-seconds), time);
    }

    [Theory]
    [InlineData("now-1x")]
    [InlineData("now-h")]
    [InlineData("now+1h")]
    [InlineData("nowish")]
    [InlineData("now--1h")]
    public void A_relative_time_in_another_form_is_not_read(string text)
    {
        Assert.False(ProfileTime.TryParseRelative(text, Now, out _));
    }

    [Fact]
    public void Further_back_than_time_reaches_is_the_beginning_of_time_not_an_overflow()
    {
        Assert.True(ProfileTime.TryParseRelative("now-99999999999999w", Now, out var time));
        Assert.Equal(DateTimeOffset.MinValue, time);
    }

    [Fact]
    public void Formats_keep_full_precision_or_whole_seconds_in_utc()
    {
        var time = new DateTimeOffset(2026, 11, 28, 13, 0, 0, TimeSpan.FromHours(1)).AddTicks(1234567);
        Assert.Equal("2026-11-28T12:00:00.1234567Z", ProfileTime.Format(time));
        Assert.Equal("2026-11-28T12:00:00Z", ProfileTime.FormatSeconds(time));
    }
}
