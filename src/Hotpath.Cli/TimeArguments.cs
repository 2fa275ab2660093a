using Hotpath.Pprof;

namespace Hotpath.Cli;

/// <summary>Time flags: absolute (the API layout or RFC 3339) or relative to now ("15m", "2h", "7d"), read by <see cref="ProfileTime"/>'s rules.</summary>
public static class TimeArguments
{
    /// <summary>An absolute time, or a duration meaning that long before <paramref name="now"/>.</summary>
    public static DateTimeOffset ParsePoint(string text, DateTimeOffset now)
    {
        if (ProfileTime.TryParseDuration(text, out var ago))
            return now - ago;
        if (ProfileTime.TryParse(text, out var time))
            return time;
        throw new ArgumentException($"\"{text}\" is neither a time (2026-11-28T10:00:00, RFC 3339) nor a duration (15m, 2h, 7d)");
    }

    /// <summary>The window a command asks for: --from/--to, else the last --since (default 1h).</summary>
    public static (DateTimeOffset From, DateTimeOffset To) Window(string? since, string? from, string? to, DateTimeOffset now)
    {
        var end = to is null ? now : ParsePoint(to, now);
        DateTimeOffset start;
        if (from is not null)
            start = ParsePoint(from, now);
        else if (ProfileTime.TryParseDuration(since ?? "1h", out var span))
            start = end - span;
        else
            throw new ArgumentException($"--since \"{since}\" is not a duration (15m, 2h, 7d)");
        if (start > end)
            throw new ArgumentException("the window starts after it ends");
        return (start, end);
    }
}
