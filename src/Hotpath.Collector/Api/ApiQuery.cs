using System.Globalization;
using System.Text;
using Hotpath.Pprof;
using Hotpath.Service;
using Hotpath.Service.Query;
using Hotpath.Storage;

namespace Hotpath.Collector.Api;

/// <summary>Reads the profefe query parameters, with profefe's rules and error texts.</summary>
public static class ApiQuery
{
    public static string RequiredString(IQueryCollection query, string name)
    {
        var value = query[name].ToString();
        return value.Length > 0 ? value : throw ApiException.BadRequest($"missing \"{name}\"");
    }

    /// <summary>
    /// Find and merge selection: service, from, to (checked in that order), type, labels, limit. <paramref name="now"/>
    /// is what relative times (<c>now-1h</c>) count from.
    /// </summary>
    public static ProfileQuery Find(IQueryCollection query, DateTimeOffset now)
    {
        var service = RequiredString(query, "service");
        var fromText = RequiredString(query, "from");
        var toText = RequiredString(query, "to");
        // A bound past what nanoseconds hold selects as far as they go: a range up to year 9999 is "everything".
        var from = UnixNanos.Clamp(ParseTimestamp(fromText, "from", now));
        var to = UnixNanos.Clamp(ParseTimestamp(toText, "to", now));
        if (from > to)
            throw ApiException.BadRequest($"\"from\" {fromText} is after \"to\" {toText}");

        // An unknown type in a query is no filter at all, as in profefe.
        ProfileType? type = ProfileTypes.TryParse(query["type"], out var t) ? t : null;
        // query={version=~"1\\.4.*", region!="us"}: Hotpath's own addition, a Prometheus-style selector beside labels=.
        var selector = LabelSelector.Parse(query["query"].ToString());
        if (!selector.MatchesService(service))
            throw ApiException.NothingFound();
        return new ProfileQuery(service, type, from, to, [.. Labels(query), .. selector.RequiredLabels], Limit(query), selector.Filter);
    }

    /// <summary><c>aggregation=sum|avg</c>, or the given default when absent.</summary>
    public static Aggregation Aggregation(IQueryCollection query, Aggregation byDefault)
    {
        var text = query["aggregation"].ToString();
        if (text.Length == 0)
            return byDefault;
        return Aggregations.TryParse(text, out var aggregation)
            ? aggregation
            : throw ApiException.BadRequest($"bad \"aggregation\" \"{text}\": sum or avg");
    }

    public static int Limit(IQueryCollection query)
    {
        var text = query["limit"].ToString();
        if (text.Length == 0)
            return 0;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var limit))
            throw ApiException.BadRequest($"bad \"limit\" \"{text}\": strconv.Atoi: parsing \"{text}\": invalid syntax");
        return Math.Max(limit, 0);
    }

    /// <summary>
    /// labels=k1=v1,k2=v2: split on ',', then on the first '='; trimmed, then query-unescaped once more
    /// (the profefe agent escapes twice). Empty keys are dropped, duplicates kept, sorted by key.
    /// </summary>
    public static IReadOnlyList<ProfileLabel> Labels(IQueryCollection query, string name = "labels")
    {
        var text = query[name].ToString();
        if (text.Length == 0)
            return [];

        var pieces = text.Split(',');
        if (pieces.Length > LabelLimits.MaxPairs)
            throw ApiException.BadRequest($"bad \"{name}\": {pieces.Length} pairs, at most {LabelLimits.MaxPairs} are allowed");
        var labels = new List<ProfileLabel>(pieces.Length);
        foreach (var piece in pieces)
        {
            var eq = piece.IndexOf('=', StringComparison.Ordinal);
            var key = (eq < 0 ? piece : piece[..eq]).Trim();
            var value = eq < 0 ? "" : piece[(eq + 1)..].Trim();
            if (key.Length == 0)
                continue;
            if (!TryQueryUnescape(key, out key, out var badKey))
                throw ApiException.BadRequest($"bad \"{name}\" \"{text}\": invalid URL escape \"{badKey}\"");
            if (!TryQueryUnescape(value, out value, out var badValue))
                throw ApiException.BadRequest($"bad \"{name}\" \"{text}\": invalid URL escape \"{badValue}\"");
            labels.Add(new ProfileLabel(key, value));
        }

        return LabelLimits.Sorted(labels, name);
    }

    /// <summary>created_at, or null when absent; a time that nanoseconds cannot hold is refused, never wrapped.</summary>
    public static long? CreatedAt(IQueryCollection query)
    {
        var text = query["created_at"].ToString();
        if (text.Length == 0)
            return null;
        if (!ProfileTime.TryParse(text, out var time))
            throw ApiException.BadRequest($"bad \"created_at\" \"{text}\": time in unsupported format \"{text}\"");
        return UnixNanos.TryFrom(time, out var nanos)
            ? nanos
            : throw ApiException.BadRequest($"bad \"created_at\" \"{text}\": outside the times a profile can carry ({UnixNanos.RangeText})");
    }

    private static DateTimeOffset ParseTimestamp(string text, string name, DateTimeOffset now) =>
        ProfileTime.TryParse(text, out var time) || ProfileTime.TryParseRelative(text, now, out time)
            ? time
            : throw ApiException.BadRequest(
                $"bad \"{name}\" timestamp \"{text}\": parsing time \"{text}\" as \"{ProfileTime.GoApiLayout}\": cannot parse, and neither RFC 3339 nor relative (now, now-1h)");

    /// <summary>Go's url.QueryUnescape: '+' is a space, %XX a byte, anything else after '%' an error.</summary>
    internal static bool TryQueryUnescape(string s, out string result, out string badEscape)
    {
        badEscape = "";
        if (!s.Contains('%', StringComparison.Ordinal) && !s.Contains('+', StringComparison.Ordinal))
        {
            result = s;
            return true;
        }

        var bytes = new List<byte>(s.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '%')
            {
                if (i + 2 >= s.Length || !Uri.IsHexDigit(s[i + 1]) || !Uri.IsHexDigit(s[i + 2]))
                {
                    badEscape = s.Substring(i, Math.Min(3, s.Length - i));
                    result = "";
                    return false;
                }

                bytes.Add((byte)Convert.ToInt32(s.Substring(i + 1, 2), 16));
                i += 2;
            }
            else if (c == '+')
            {
                bytes.Add((byte)' ');
            }
            else
            {
                // A lone surrogate becomes U+FFFD, as any UTF-8 encoder does.
                Rune.DecodeFromUtf16(s.AsSpan(i), out var rune, out var consumed);
                i += consumed - 1;
                var n = rune.EncodeToUtf8(utf8);
                for (var j = 0; j < n; j++)
                    bytes.Add(utf8[j]);
            }
        }

        result = Encoding.UTF8.GetString(bytes.ToArray());
        return true;
    }
}
