using System.Globalization;

namespace Hotpath.Cli;

/// <summary>Time flags: absolute (the API layout or RFC 3339) or relative to now ("15m", "2h", "7d").</summary>
public static class TimeArguments
{
    public const string ApiLayout = "yyyy-MM-dd'T'HH:mm:ss";

    /// <summary>A duration like 30s, 15m, 2h, 7d (a bare number is seconds).</summary>
    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(text))
            return false;
        var unit = text[^1];
        var number = char.IsDigit(unit) ? text : text[..^1];
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || value < 0)
            return false;
        duration = unit switch
        {
            's' or >= '0' and <= '9' => TimeSpan.FromSeconds(value),
            'm' => TimeSpan.FromMinutes(value),
            'h' => TimeSpan.FromHours(value),
            'd' => TimeSpan.FromDays(value),
            'w' => TimeSpan.FromDays(7 * value),
            _ => TimeSpan.MinValue,
        };
        return duration != TimeSpan.MinValue;
    }

    /// <summary>An absolute time, or a duration meaning that long before <paramref name="now"/>.</summary>
    public static DateTimeOffset ParsePoint(string text, DateTimeOffset now)
    {
        if (TryParseDuration(text, out var ago))
            return now - ago;
        if (DateTime.TryParseExact(text, ApiLayout, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var plain))
            return new DateTimeOffset(plain, TimeSpan.Zero);
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var rfc))
            return rfc.ToUniversalTime();
        throw new ArgumentException($"\"{text}\" is neither a time (2026-11-28T10:00:00, RFC 3339) nor a duration (15m, 2h, 7d)");
    }

    /// <summary>The window a command asks for: --from/--to, else the last --since (default 1h).</summary>
    public static (DateTimeOffset From, DateTimeOffset To) Window(string? since, string? from, string? to, DateTimeOffset now)
    {
        var end = to is null ? now : ParsePoint(to, now);
        DateTimeOffset start;
        if (from is not null)
            start = ParsePoint(from, now);
        else if (TryParseDuration(since ?? "1h", out var span))
            start = end - span;
        else
            throw new ArgumentException($"--since \"{since}\" is not a duration (15m, 2h, 7d)");
        if (start > end)
            throw new ArgumentException("the window starts after it ends");
        return (start, end);
    }

    /// <summary>RFC 3339 with full precision, which the collector reads exactly (the API layout has whole seconds only).</summary>
    public static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);
}
