using System.Globalization;
using System.Text;
using Hotpath.Pprof;
using Hotpath.Storage;

namespace Hotpath.Service.Query;

/// <summary>
/// A Prometheus-style label selector, as Grafana and Pyroscope write them: <c>{service_name="api",
/// version=~"1\\.4.*", region!="us"}</c>, matchers joined by commas, each <c>=</c>, <c>!=</c>, <c>=~</c> or
/// <c>!~</c>, values quoted with double quotes, single quotes or backticks (Go's escapes inside double and single
/// quotes). <c>service_name</c> is Hotpath's service; every other name is one of the profile's own labels.
/// Bounded: at most <see cref="MaxLength"/> characters and <see cref="MaxMatchers"/> matchers.
/// </summary>
public sealed class LabelSelector : ILabelFilter
{
    /// <summary>The label that names the service.</summary>
    public const string ServiceLabel = "service_name";

    /// <summary>The label that names a Pyroscope profile type id.</summary>
    public const string ProfileTypeLabel = "__profile_type__";

    public const int MaxLength = 16 * 1024;
    public const int MaxMatchers = 64;

    public static LabelSelector Empty { get; } = new([]);

    private LabelSelector(IReadOnlyList<LabelMatcher> matchers) => Matchers = matchers;

    public IReadOnlyList<LabelMatcher> Matchers { get; }

    /// <summary>The service an equality matcher on <see cref="ServiceLabel"/> names; null when none does.</summary>
    public string? Service => Matchers.FirstOrDefault(m => m is { Name: ServiceLabel, Operator: MatchOperator.Equal })?.Value;

    /// <summary>The matchers on a profile type (<c>__profile_type__</c>), which name Pyroscope's type ids.</summary>
    public IEnumerable<LabelMatcher> TypeMatchers => Matchers.Where(m => m.Name == ProfileTypeLabel);

    /// <summary>The matchers on the profile's own labels (all but <see cref="ServiceLabel"/> and names starting with "__").</summary>
    public IEnumerable<LabelMatcher> LabelMatchers => Matchers.Where(m => m.Name != ServiceLabel && !m.Name.StartsWith("__", StringComparison.Ordinal));

    /// <summary>The pairs every selected profile must carry: the equality matchers on its own labels (a store's label filter).</summary>
    public IReadOnlyList<ProfileLabel> RequiredLabels => [.. LabelMatchers.Where(m => m.Operator == MatchOperator.Equal && m.Value.Length > 0)
        .Select(m => new ProfileLabel(m.Name, m.Value))];

    /// <summary>
    /// The filter a store applies beside <see cref="RequiredLabels"/>: this selector when it has matchers those pairs
    /// do not say all of (<c>!=</c>, <c>=~</c>, <c>!~</c>, <c>=""</c>), else none, so that finds keep their index and limit.
    /// </summary>
    public ILabelFilter? Filter => LabelMatchers.Any(m => m.Operator != MatchOperator.Equal || m.Value.Length == 0) ? this : null;

    /// <summary>Whether a service passes the matchers on <see cref="ServiceLabel"/>.</summary>
    public bool MatchesService(string service) => Matchers.Where(m => m.Name == ServiceLabel).All(m => m.Matches(service));

    /// <summary>Whether a profile's labels pass every matcher on its own labels.</summary>
    public bool Matches(IReadOnlyList<ProfileLabel> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        foreach (var matcher in LabelMatchers)
        {
            string? value = null;
            foreach (var label in labels)
            {
                if (label.Key == matcher.Name)
                {
                    value = label.Value;
                    break;
                }
            }

            if (!matcher.Matches(value))
                return false;
        }

        return true;
    }

    /// <summary>Parses a selector; empty text, or <c>{}</c>, selects everything.</summary>
    /// <exception cref="InvalidRequestException">The text is not a selector, or is past the bounds.</exception>
    public static LabelSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
            return Empty;
        if (text.Length > MaxLength)
            throw new InvalidRequestException($"label selector of {text.Length} characters; at most {MaxLength}");
        var reader = new Reader(text);
        reader.SkipSpace();
        reader.Expect('{');
        var matchers = new List<LabelMatcher>();
        reader.SkipSpace();
        while (!reader.TryTake('}'))
        {
            if (matchers.Count == MaxMatchers)
                throw new InvalidRequestException($"label selector with more than {MaxMatchers} matchers");
            var name = reader.Name();
            reader.SkipSpace();
            var op = reader.Operator();
            reader.SkipSpace();
            matchers.Add(new LabelMatcher(name, op, reader.Quoted()));
            reader.SkipSpace();
            if (!reader.TryTake(','))
            {
                reader.Expect('}');
                break;
            }

            reader.SkipSpace();
        }

        reader.SkipSpace();
        if (!reader.End)
            throw reader.Error("text after the closing brace");
        return new LabelSelector(matchers);
    }

    public override string ToString() => "{" + string.Join(", ", Matchers) + "}";

    private sealed class Reader(string text)
    {
        private int _at;

        public bool End => _at >= text.Length;

        public void SkipSpace()
        {
            while (_at < text.Length && char.IsWhiteSpace(text[_at]))
                _at++;
        }

        public bool TryTake(char c)
        {
            if (_at < text.Length && text[_at] == c)
            {
                _at++;
                return true;
            }

            return false;
        }

        public void Expect(char c)
        {
            if (!TryTake(c))
                throw Error($"expected '{c}'");
        }

        public string Name()
        {
            if (_at < text.Length && text[_at] is '"' or '\'' or '`')
                return Quoted();
            var start = _at;
            while (_at < text.Length && (char.IsAsciiLetterOrDigit(text[_at]) || text[_at] is '_' or '.' or ':' or '-' or '/'))
                _at++;
            if (_at == start || char.IsAsciiDigit(text[start]))
                throw Error("expected a label name");
            return text[start.._at];
        }

        public MatchOperator Operator()
        {
            if (TryTake('='))
                return TryTake('~') ? MatchOperator.Regex : MatchOperator.Equal;
            if (TryTake('!'))
            {
                if (TryTake('='))
                    return MatchOperator.NotEqual;
                if (TryTake('~'))
                    return MatchOperator.NotRegex;
            }

            throw Error("expected one of =, !=, =~, !~");
        }

        public string Quoted()
        {
            if (_at >= text.Length || text[_at] is not ('"' or '\'' or '`'))
                throw Error("expected a quoted value");
            var quote = text[_at++];
            var value = new StringBuilder();
            while (true)
            {
                if (_at >= text.Length)
                    throw Error("a quoted value is not closed");
                var c = text[_at++];
                if (c == quote)
                    return value.ToString();
                if (c != '\\' || quote == '`')
                {
                    value.Append(c);
                    continue;
                }

                if (_at >= text.Length)
                    throw Error("a quoted value is not closed");
                var escaped = text[_at++];
                switch (escaped)
                {
                    case 'n': value.Append('\n'); break;
                    case 't': value.Append('\t'); break;
                    case 'r': value.Append('\r'); break;
                    case '\\' or '"' or '\'': value.Append(escaped); break;
                    case 'u' when _at + 4 <= text.Length && ushort.TryParse(text.AsSpan(_at, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code):
                        value.Append((char)code);
                        _at += 4;
                        break;
                    default:
                        // Go keeps what it does not know as an error; a regex's own escapes (\. \d) pass through.
                        value.Append('\\').Append(escaped);
                        break;
                }
            }
        }

        public InvalidRequestException Error(string what) =>
            new($"bad label selector \"{(text.Length > 200 ? text[..200] + "…" : text)}\": {what} at position {_at}");
    }
}
