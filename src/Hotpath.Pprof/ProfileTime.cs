using System.Globalization;

namespace Hotpath.Pprof;

/// <summary>
/// Times as every Hotpath edge reads and writes them: the profefe API's layout (Go's <c>2006-01-02T15:04:05</c>,
/// UTC), RFC 3339 with a zone, durations (<c>30s</c>, <c>15m</c>, <c>2h</c>, <c>7d</c>, <c>1w</c>; a bare number
/// is seconds) and Pyroscope's relative times (<c>now</c>, <c>now-15m</c>). One set of rules for the collector,
/// the CLI and the UI's API.
/// </summary>
public static class ProfileTime
{
    /// <summary>The profefe API's own layout, read as UTC.</summary>
    public const string ApiLayout = "yyyy-MM-dd'T'HH:mm:ss";

    /// <summary>The same layout as Go writes it, for error messages that read as profefe's.</summary>
    public const string GoApiLayout = "2006-01-02T15:04:05";

    /// <summary>The API layout (UTC) or RFC 3339 with Z or an offset, in UTC.</summary>
    public static bool TryParse(string text, out DateTimeOffset time)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (DateTime.TryParseExact(text, ApiLayout, CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var plain))
        {
            time = new DateTimeOffset(plain, TimeSpan.Zero);
            return true;
        }

        if (DateTimeOffset.TryParseExact(text, ["yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK"], CultureInfo.InvariantCulture, DateTimeStyles.None, out time) && HasZone(text))
        {
            time = time.ToUniversalTime();
            return true;
        }

        return false;
    }

    private static bool HasZone(string text) =>
        text.EndsWith('Z') || text.EndsWith('z') || (text.Length > 6 && text[^6] is '+' or '-' && text[^3] == ':');

    /// <summary>A duration like 30s, 15m, 2h, 7d, 1w (a bare number is seconds; fractions allowed); longer than TimeSpan holds is its maximum.</summary>
    public static bool TryParseDuration(ReadOnlySpan<char> text, out TimeSpan duration)
    {
        duration = default;
        if (text.IsEmpty)
            return false;
        var unit = text[^1];
        var number = char.IsAsciiDigit(unit) ? text : text[..^1];
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || value < 0)
            return false;
        double ticksPerUnit = unit switch
        {
            's' or (>= '0' and <= '9') => TimeSpan.TicksPerSecond,
            'm' => TimeSpan.TicksPerMinute,
            'h' => TimeSpan.TicksPerHour,
            'd' => TimeSpan.TicksPerDay,
            'w' => 7 * TimeSpan.TicksPerDay,
            _ => 0,
        };
        if (ticksPerUnit == 0)
            return false;
        var ticks = value * ticksPerUnit;
        duration = ticks >= TimeSpan.MaxValue.Ticks ? TimeSpan.MaxValue : TimeSpan.FromTicks((long)ticks);
        return true;
    }

    /// <summary>
    /// Pyroscope's relative times, which profefe clients never send: <c>now</c>, or <c>now-</c> and a duration
    /// (<c>now-15m</c>, <c>now-7d</c>); further back than DateTimeOffset reaches is the beginning of time.
    /// </summary>
    public static bool TryParseRelative(string text, DateTimeOffset now, out DateTimeOffset time)
    {
        ArgumentNullException.ThrowIfNull(text);
        time = now;
        if (!text.StartsWith("now", StringComparison.Ordinal))
            return false;
        var rest = text.AsSpan(3);
        if (rest.IsEmpty)
            return true;
        if (rest[0] != '-' || !TryParseDuration(rest[1..], out var ago))
            return false;
        time = ago >= now - DateTimeOffset.MinValue ? DateTimeOffset.MinValue : now - ago;
        return true;
    }

    /// <summary>RFC 3339 in UTC with full precision (what the collector reads exactly; the API layout has whole seconds only).</summary>
    public static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    /// <summary>RFC 3339 in UTC, to whole seconds (truncated).</summary>
    public static string FormatSeconds(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
