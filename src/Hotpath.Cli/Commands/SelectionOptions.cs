using System.CommandLine;
using System.Text;
using Hotpath.Pprof;

namespace Hotpath.Cli.Commands;

/// <summary>The options that select profiles (find, merge, top): service, type, labels, time window, limit.</summary>
public sealed class SelectionOptions(TimeProvider time)
{
    public Option<string> Service { get; } = new("--service", "-s") { Description = "Service name", Required = true };
    public Option<string?> Type { get; } = TypeOption();
    public Option<string[]> Labels { get; } = new("--label", "-l") { Description = "Label filter key=value (repeatable; all must match)", AllowMultipleArgumentsPerToken = false };
    public Option<string?> Selector { get; } = new("--query", "-q") { Description = "Label selector, Prometheus style: {version=~\"1\\.4.*\", region!=\"us\"}" };
    public Option<string> Since { get; } = new("--since") { Description = "Window ending now (or at --to): 15m, 2h, 7d", DefaultValueFactory = _ => "1h" };
    public Option<string?> From { get; } = new("--from") { Description = "Window start: 2026-11-28T10:00:00, RFC 3339, or a duration ago (3h)" };
    public Option<string?> To { get; } = new("--to") { Description = "Window end (default now): same forms as --from" };
    public Option<int> Limit { get; } = new("--limit") { Description = "Keep only the newest N profiles" };
    public Option<string> Aggregation { get; } = AggregationOption();

    private bool _merges;

    private static Option<string> AggregationOption()
    {
        var option = new Option<string>("--aggregation")
        {
            Description = "avg: snapshots (in-use heap, goroutines) averaged over time per instance, summed across instances; sum: every value added up (profefe's merge)",
            DefaultValueFactory = _ => "avg",
        };
        option.AcceptOnlyFromAmong("avg", "sum");
        return option;
    }

    /// <summary>
    /// --type, checked here: the collector's find (as profefe's) takes an unknown type for no filter at all and
    /// would list every type.
    /// </summary>
    public static Option<string?> TypeOption()
    {
        var option = new Option<string?>("--type", "-t") { Description = "Profile type: " + ProfileTypes.Listed };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } given && !ProfileTypes.TryParse(given, out _))
                result.AddError($"--type: unknown profile type \"{given}\"; the types are {ProfileTypes.Listed}");
        });
        return option;
    }

    /// <param name="merges">The command merges the selection: the type is required, and --aggregation applies.</param>
    public void AddTo(Command command, bool merges)
    {
        Type.Required = merges;
        _merges = merges;
        foreach (var option in (Option[])[Service, Type, Labels, Selector, Since, From, To, Limit])
            command.Options.Add(option);
        if (merges)
            command.Options.Add(Aggregation);
    }

    /// <summary>The API query string for the selection.</summary>
    public string Query(ParseResult parsed) => Query(parsed, Window(parsed));

    /// <summary>The time window the options select.</summary>
    public (DateTimeOffset From, DateTimeOffset To) Window(ParseResult parsed) =>
        TimeArguments.Window(parsed.GetValue(Since), parsed.GetValue(From), parsed.GetValue(To), time.GetUtcNow());

    /// <summary>The API query string for the selection over the given window.</summary>
    public string Query(ParseResult parsed, (DateTimeOffset From, DateTimeOffset To) window)
    {
        var (from, to) = window;
        var query = new StringBuilder();
        query.Append("service=").Append(Uri.EscapeDataString(parsed.GetValue(Service)!));
        if (parsed.GetValue(Type) is { Length: > 0 } type)
            query.Append("&type=").Append(Uri.EscapeDataString(type));
        query.Append("&from=").Append(Uri.EscapeDataString(ProfileTime.Format(from)));
        query.Append("&to=").Append(Uri.EscapeDataString(ProfileTime.Format(to)));
        if (LabelQuery(parsed.GetValue(Labels)) is { Length: > 0 } labels)
            query.Append("&labels=").Append(labels);
        if (parsed.GetValue(Selector) is { Length: > 0 } selector)
            query.Append("&query=").Append(Uri.EscapeDataString(selector));
        if (parsed.GetValue(Limit) is > 0 and var limit)
            query.Append("&limit=").Append(limit);
        if (_merges)
            query.Append("&aggregation=").Append(parsed.GetValue(Aggregation));
        return query.ToString();
    }

    /// <summary>
    /// key=value pairs as the labels parameter: each key and value escaped once (the collector unescapes
    /// them after splitting), then the whole escaped again as a query value, as the profefe agent does.
    /// </summary>
    public static string LabelQuery(IEnumerable<string>? pairs) =>
        Uri.EscapeDataString(string.Join(",", ParseLabels(pairs).Select(l => Uri.EscapeDataString(l.Key) + "=" + Uri.EscapeDataString(l.Value))));

    /// <summary>--label key=value options as pairs, in order; anything without a key before '=' is refused.</summary>
    public static IEnumerable<KeyValuePair<string, string>> ParseLabels(IEnumerable<string>? pairs)
    {
        foreach (var pair in pairs ?? [])
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
                throw new ArgumentException($"label \"{pair}\" is not key=value");
            yield return new(pair[..eq], pair[(eq + 1)..]);
        }
    }
}
