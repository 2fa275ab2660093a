using System.Globalization;
using System.Text.Json;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Proto;
using Hotpath.Service.Query;
using Hotpath.Storage;
using Microsoft.Extensions.Primitives;

namespace Hotpath.Collector.Api;

/// <summary>
/// Read endpoints for the web UI, computed server-side from the same selections as the API, so the browser
/// never parses protobuf: the flame graph and top table of a merge, a diff of two selections, a function's
/// callers and callees, profiles over time (for the whole selection and per value of a label), the labels a
/// service carries, and exports of a merge as folded text or speedscope JSON. Merges may be narrowed to
/// samples by their pprof sample labels (<c>sample_labels</c>) and grouped by one (<c>group_by</c>).
/// </summary>
public static class UiApi
{
    private const int MaxTopRows = 2000;

    /// <summary>Most values of a label the explorer ranks; most sample label values offered per key.</summary>
    private const int MaxExploredValues = 50;

    public static IEndpointRouteBuilder MapUiApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/0/ui/profile", ProfileAsync);
        app.MapGet("/api/0/ui/diff", DiffAsync);
        app.MapGet("/api/0/ui/series", SeriesAsync);
        app.MapGet("/api/0/ui/labels", LabelsAsync);
        app.MapGet("/api/0/ui/explore", ExploreAsync);
        app.MapGet("/api/0/ui/sandwich", SandwichAsync);
        app.MapGet("/api/0/ui/export", ExportAsync);
        return app;
    }

    private static async Task<IResult> ProfileAsync(HttpContext context, MergeService merger, TimeProvider time, CancellationToken cancellationToken)
    {
        var (merged, selected, index, count, aggregation) = await MergeAsync(context.Request.Query, merger, time.GetUtcNow(), cancellationToken);
        var view = ProfileView.Build(selected, index);
        return ApiResults.Ok(json =>
        {
            json.WriteStartObject();
            WriteHeader(json, merged, index, count, aggregation);
            json.WriteNumber("total", view.Top.Total);
            WriteFlame(json, view.Flame, diff: false);
            json.WriteStartArray("top");
            foreach (var row in view.Top.Rows.Take(MaxTopRows))
            {
                json.WriteStartObject();
                json.WriteString("f", row.Function);
                json.WriteNumber("s", row.Flat);
                json.WriteNumber("t", row.Cumulative);
                WriteFile(json, row.File);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            WriteSampleLabels(json, merged, index);
            json.WriteEndObject();
        });
    }

    /// <summary>
    /// The merge a UI request selects, with the UI's default aggregation (gauges such as in-use memory and
    /// goroutines averaged over time), its sample type, and its samples narrowed by <c>sample_labels</c> and
    /// grouped by <c>group_by</c> (<see cref="Selection"/>).
    /// </summary>
    private static async Task<(Profile Merged, Profile Selected, int Index, int Count, Aggregation Aggregation)> MergeAsync(
        IQueryCollection parameters, MergeService merger, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var query = ProfilesApi.MergeQuery(parameters, now);
        var aggregation = ApiQuery.Aggregation(parameters, Aggregation.Average);
        var (merged, count) = await merger.MergeSelectionAsync(query, aggregation, cancellationToken);
        var index = SampleType(merged, parameters["sample_type"]);
        return (merged, Selection(parameters).Apply(merged), index, count, aggregation);
    }

    /// <summary><c>sample_labels=k=v,…</c> (escaped as <c>labels</c> is) and <c>group_by=k</c>.</summary>
    private static SampleSelection Selection(IQueryCollection parameters)
    {
        var filters = ApiQuery.Labels(parameters, "sample_labels");
        var groupBy = parameters["group_by"].ToString();
        return filters.Count == 0 && groupBy.Length == 0
            ? SampleSelection.None
            : new SampleSelection([.. filters.Select(l => KeyValuePair.Create(l.Key, l.Value))], groupBy.Length == 0 ? null : groupBy);
    }

    /// <summary>Baseline: service/type/from/to/labels; comparison: cmp_from/cmp_to/cmp_labels (each defaulting to the baseline's).</summary>
    private static async Task<IResult> DiffAsync(HttpContext context, MergeService merger, TimeProvider time, CancellationToken cancellationToken)
    {
        var parameters = context.Request.Query;
        // One "now" for both sides, so that relative ranges are the same length.
        var at = time.GetUtcNow();
        var baselineQuery = ProfilesApi.MergeQuery(parameters, at);
        var comparisonParameters = new Dictionary<string, StringValues>(StringComparer.Ordinal);
        foreach (var (key, value) in parameters)
            comparisonParameters[key] = value;
        foreach (var name in new[] { "from", "to", "labels" })
        {
            if (parameters.ContainsKey("cmp_" + name))
                comparisonParameters[name] = parameters["cmp_" + name];
        }

        var comparisonQuery = ProfilesApi.MergeQuery(new QueryCollection(comparisonParameters), at);
        var aggregation = ApiQuery.Aggregation(parameters, Aggregation.Average);
        // The two merges at once: each is mostly waiting on the store.
        var baselineMerge = merger.MergeSelectionAsync(baselineQuery, aggregation, cancellationToken);
        var comparisonMerge = merger.MergeSelectionAsync(comparisonQuery, aggregation, cancellationToken);
        await Task.WhenAll(baselineMerge, comparisonMerge);
        var (baseline, baselineCount) = await baselineMerge;
        var (comparison, comparisonCount) = await comparisonMerge;
        var index = SampleType(comparison, parameters["sample_type"]);
        var baselineIndex = SampleType(baseline, comparison.StringTable[(int)comparison.SampleType[index].Type]);

        var selection = Selection(parameters);
        var view = ProfileView.Build(selection.Apply(comparison), index, selection.Apply(baseline), baselineIndex);
        var flame = view.Flame;
        var before = view.BaselineTop!.Rows.ToDictionary(r => r.Function, StringComparer.Ordinal);
        var present = view.Top.Rows.Select(r => r.Function).ToHashSet(StringComparer.Ordinal);
        var rows = view.Top.Rows.Select(r => (r.Function, r.File, Self: r.Flat, Total: r.Cumulative, Before: before.GetValueOrDefault(r.Function)))
            .Concat(before.Values.Where(b => !present.Contains(b.Function)).Select(b => (b.Function, b.File, Self: 0L, Total: 0L, Before: (TopRow?)b)))
            .Select(r => (r.Function, r.File, r.Self, r.Total, BaseSelf: r.Before?.Flat ?? 0, BaseTotal: r.Before?.Cumulative ?? 0))
            .ToList();
        var baselineTotal = flame.Root.BaselineTotal;
        double Share(long v, long total) => total == 0 ? 0 : (double)v / total;
        rows.Sort((a, b) => Math.Abs(Share(b.Self, flame.Root.Total) - Share(b.BaseSelf, baselineTotal))
            .CompareTo(Math.Abs(Share(a.Self, flame.Root.Total) - Share(a.BaseSelf, baselineTotal))));

        return ApiResults.Ok(json =>
        {
            json.WriteStartObject();
            WriteHeader(json, comparison, index, comparisonCount, aggregation);
            json.WriteNumber("baseline_profiles", baselineCount);
            json.WriteNumber("total", flame.Root.Total);
            json.WriteNumber("baseline_total", baselineTotal);
            WriteFlame(json, flame, diff: true);
            json.WriteStartArray("top");
            foreach (var row in rows.Take(MaxTopRows))
            {
                json.WriteStartObject();
                json.WriteString("f", row.Function);
                json.WriteNumber("s", row.Self);
                json.WriteNumber("t", row.Total);
                json.WriteNumber("bs", row.BaseSelf);
                json.WriteNumber("bt", row.BaseTotal);
                WriteFile(json, row.File);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            WriteSampleLabels(json, comparison, index);
            json.WriteEndObject();
        });
    }

    /// <summary>Profiles over time: count and summed main value per bucket of the window.</summary>
    private static async Task<IResult> SeriesAsync(HttpContext context, IProfileReader reader, TimeProvider time, CancellationToken cancellationToken)
    {
        var query = ApiQuery.Find(context.Request.Query, time.GetUtcNow());
        var series = await Series.ReadAsync(reader, query, Buckets(context.Request.Query), cancellationToken);
        return ApiResults.Ok(json =>
        {
            json.WriteStartObject();
            series.Write(json);
            json.WriteEndObject();
        });
    }

    private static int Buckets(IQueryCollection parameters)
    {
        var text = parameters["buckets"].ToString();
        return text.Length == 0 ? 60 : int.TryParse(text, CultureInfo.InvariantCulture, out var b) && b is > 0 and <= 1000
            ? b
            : throw ApiException.BadRequest($"bad \"buckets\" \"{text}\": a number from 1 to 1000");
    }

    /// <summary>
    /// The tag explorer: the values of label <c>key</c> among the selection's profiles, each with its series,
    /// its total of the main value and its share, the largest first (at most 50).
    /// </summary>
    private static async Task<IResult> ExploreAsync(HttpContext context, IProfileReader reader, TimeProvider time, CancellationToken cancellationToken)
    {
        var query = ApiQuery.Find(context.Request.Query, time.GetUtcNow());
        var key = ApiQuery.RequiredString(context.Request.Query, "key");
        var buckets = Buckets(context.Request.Query);
        // One pass over the selection's pieces, grouped by the key's value, however many values there are.
        var explored = (await Series.ReadByLabelAsync(reader, query, key, buckets, cancellationToken))
            .Where(e => !query.Labels.Contains(new ProfileLabel(key, e.Key)) && e.Value.Profiles > 0)
            .Select(e => (Value: e.Key, Series: e.Value)).ToList();
        var ranked = explored.OrderByDescending(e => e.Series.Value).ThenBy(e => e.Value, StringComparer.Ordinal).Take(MaxExploredValues).ToList();
        var total = Saturating.Sum(ranked, e => e.Series.Value);
        return ApiResults.Ok(json =>
        {
            json.WriteStartObject();
            json.WriteString("key", key);
            json.WriteNumber("total", total);
            json.WriteNumber("values_found", explored.Count);
            json.WriteStartArray("values");
            foreach (var (value, series) in ranked)
            {
                json.WriteStartObject();
                json.WriteString("value", value);
                json.WriteNumber("total", series.Value);
                json.WriteNumber("profiles", series.Profiles);
                json.WriteNumber("share", total == 0 ? 0 : (double)series.Value / total);
                series.Write(json);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        });
    }

    /// <summary>A function's callers (a tree from it up to the roots) and callees (from it down to the leaves) in the merge.</summary>
    private static async Task<IResult> SandwichAsync(HttpContext context, MergeService merger, TimeProvider time, CancellationToken cancellationToken)
    {
        var function = ApiQuery.RequiredString(context.Request.Query, "function");
        var (merged, selected, index, count, aggregation) = await MergeAsync(context.Request.Query, merger, time.GetUtcNow(), cancellationToken);
        var sandwich = Sandwich.Build(selected, index, function);
        var total = Saturating.Sum(selected.Sample, s => s.Value[index]);
        return ApiResults.Ok(json =>
        {
            json.WriteStartObject();
            WriteHeader(json, merged, index, count, aggregation);
            json.WriteString("function", function);
            json.WriteNumber("total", total);
            json.WriteNumber("function_total", sandwich.Total);
            json.WriteNumber("function_self", sandwich.Self);
            json.WritePropertyName("callers");
            WriteNode(json, sandwich.Callers.Root, diff: false);
            json.WritePropertyName("callees");
            WriteNode(json, sandwich.Callees.Root, diff: false);
            json.WriteEndObject();
        });
    }

    /// <summary>The merge as <c>format=folded</c> text (flamegraph.pl, one stack a line) or <c>format=speedscope</c> JSON, as a download.</summary>
    private static async Task<IResult> ExportAsync(HttpContext context, MergeService merger, TimeProvider time, CancellationToken cancellationToken)
    {
        var format = context.Request.Query["format"].ToString();
        if (format is not ("folded" or "speedscope"))
            throw ApiException.BadRequest($"bad \"format\" \"{format}\": folded or speedscope (pprof is /api/0/profiles/merge)");
        var (merged, selected, index, _, _) = await MergeAsync(context.Request.Query, merger, time.GetUtcNow(), cancellationToken);
        var name = $"{context.Request.Query["service"]}-{context.Request.Query["type"]}-{merged.StringTable[(int)merged.SampleType[index].Type]}";
        // The name is the service's, which any client chose: only safe characters reach the header.
        var fileName = string.Concat(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
        context.Response.Headers.ContentDisposition = $"attachment; filename=\"{fileName}.{(format == "folded" ? "folded.txt" : "speedscope.json")}\"";
        if (format == "folded")
            return Results.Text(string.Join('\n', TopTable.Folded(selected, index)) + "\n", "text/plain; charset=utf-8");
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
            Speedscope.Write(json, selected, index, name);
        return Results.Bytes(buffer.ToArray(), "application/json");
    }

    private static async Task<IResult> LabelsAsync(HttpContext context, IProfileReader reader, CancellationToken cancellationToken)
    {
        var service = ApiQuery.RequiredString(context.Request.Query, "service");
        var labels = await reader.ListLabelsAsync(service, cancellationToken);
        return ApiResults.Ok(json =>
        {
            json.WriteStartArray();
            foreach (var group in labels.GroupBy(l => l.Key, StringComparer.Ordinal))
            {
                json.WriteStartObject();
                json.WriteString("key", group.Key);
                json.WriteStartArray("values");
                foreach (var label in group)
                    json.WriteStringValue(label.Value);
                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndArray();
        });
    }

    private static int SampleType(Profile profile, StringValues name)
    {
        try
        {
            return TopTable.SampleTypeIndex(profile, name.ToString());
        }
        catch (ArgumentException e)
        {
            throw ApiException.BadRequest(e.Message);
        }
    }

    private static void WriteHeader(Utf8JsonWriter json, Profile profile, int index, int count, Aggregation aggregation)
    {
        json.WriteNumber("profiles", count);
        // How the values shown combine: "avg" for a gauge averaged over time per instance, else "sum".
        var gauge = Aggregations.IsGauge(profile.StringTable[(int)profile.SampleType[index].Type]);
        json.WriteString("aggregation", (gauge ? aggregation : Aggregation.Sum).ToWire());
        json.WriteStartArray("sample_types");
        foreach (var type in profile.SampleType)
        {
            json.WriteStartObject();
            json.WriteString("type", profile.StringTable[(int)type.Type]);
            json.WriteString("unit", profile.StringTable[(int)type.Unit]);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteString("sample_type", profile.StringTable[(int)profile.SampleType[index].Type]);
        json.WriteString("unit", profile.StringTable[(int)profile.SampleType[index].Unit]);
        // The unit of the value the series sums: each profile's default sample type, stored at ingest.
        json.WriteString("series_unit", profile.StringTable[(int)profile.SampleType[TopTable.SampleTypeIndex(profile, null)].Unit]);
    }

    /// <summary>A top row's source file, left out when the profile has none (most rows of .NET framework code).</summary>
    private static void WriteFile(Utf8JsonWriter json, string file)
    {
        if (file.Length > 0)
            json.WriteString("file", file);
    }

    /// <summary>The pprof sample labels of the whole merge (before any sample filter), for the UI to offer: <c>[{key, values: [{v, t}]}]</c>.</summary>
    private static void WriteSampleLabels(Utf8JsonWriter json, Profile profile, int index)
    {
        json.WriteStartArray("sample_labels");
        foreach (var key in SampleLabelKey.Of(profile, index, MaxExploredValues))
        {
            json.WriteStartObject();
            json.WriteString("key", key.Key);
            json.WriteStartArray("values");
            foreach (var (value, total) in key.Values)
            {
                json.WriteStartObject();
                json.WriteString("v", value);
                json.WriteNumber("t", total);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    /// <summary>
    /// The tree under "flame", with "depth_limit" (frames below it are one "… deeper frames" node) and
    /// "deep_stacks" (how many samples were folded so), so that the UI can say what it does not show.
    /// </summary>
    private static void WriteFlame(Utf8JsonWriter json, FlameTree flame, bool diff)
    {
        json.WriteNumber("depth_limit", flame.DepthLimit);
        json.WriteNumber("deep_stacks", flame.DeepStacks);
        json.WritePropertyName("flame");
        WriteNode(json, flame.Root, diff);
    }

    /// <summary>A node as {"n":name,"v":total,"s":self[,"b":baseline total,"bs":baseline self],"c":[children]}; depth is bounded by the tree's limit.</summary>
    private static void WriteNode(Utf8JsonWriter json, FlameNode node, bool diff)
    {
        json.WriteStartObject();
        json.WriteString("n", node.Name);
        json.WriteNumber("v", node.Total);
        json.WriteNumber("s", node.Self);
        if (diff)
        {
            json.WriteNumber("b", node.BaselineTotal);
            json.WriteNumber("bs", node.BaselineSelf);
        }

        if (node.Children.Count > 0)
        {
            json.WriteStartArray("c");
            foreach (var child in node.Children)
                WriteNode(json, child, diff);
            json.WriteEndArray();
        }

        json.WriteEndObject();
    }
}

/// <summary>A selection's profiles over time: the count and the summed main value per bucket of its window.</summary>
internal sealed class Series
{
    private readonly long _from;
    private readonly ulong _step;
    private readonly ulong _span;
    private readonly int[] _counts;
    private readonly long[] _values;

    private Series(long from, ulong step, ulong span, int[] counts, long[] values)
    {
        _from = from;
        _step = step;
        _span = span;
        _counts = counts;
        _values = values;
    }

    public int Profiles => _counts.Sum();

    public long Value => Saturating.Sum(_values);

    public static async Task<Series> ReadAsync(IProfileReader reader, ProfileQuery query, int buckets, CancellationToken cancellationToken)
    {
        var (step, span) = Grid(query, buckets);
        // Pieces no wider than a bucket, each counted where it starts.
        var series = new Series(query.FromUnixNanos, step, span, new int[buckets], new long[buckets]);
        foreach (var point in await reader.SeriesAsync(query, (long)Math.Min(step, long.MaxValue), cancellationToken))
            series.Count(point);
        return series;
    }

    /// <summary>The series of each value of <paramref name="key"/> among the selection, from one read of the store.</summary>
    public static async Task<Dictionary<string, Series>> ReadByLabelAsync(IProfileReader reader, ProfileQuery query, string key, int buckets, CancellationToken cancellationToken)
    {
        var (step, span) = Grid(query, buckets);
        var byValue = new Dictionary<string, Series>(StringComparer.Ordinal);
        foreach (var (value, point) in await reader.SeriesByLabelAsync(query, key, (long)Math.Min(step, long.MaxValue), cancellationToken))
        {
            if (!byValue.TryGetValue(value, out var series))
                byValue[value] = series = new Series(query.FromUnixNanos, step, span, new int[buckets], new long[buckets]);
            series.Count(point);
        }

        return byValue;
    }

    // Unsigned: a window may span every time nanoseconds hold, wider than a long.
    private static (ulong Step, ulong Span) Grid(ProfileQuery query, int buckets)
    {
        var span = Math.Max(1UL, (ulong)(query.ToUnixNanos - query.FromUnixNanos));
        return (span / (ulong)buckets + (span % (ulong)buckets == 0 ? 0UL : 1UL), span);
    }

    private void Count(SeriesPoint point)
    {
        var i = (int)Math.Min((ulong)_counts.Length - 1, (ulong)(point.TimeUnixNanos - _from) / _step);
        _counts[i] += point.Profiles;
        _values[i] = Saturating.Add(_values[i], point.Value);
    }

    /// <summary>Writes <c>step_seconds</c> and <c>buckets: [{t, start, count, value}]</c> into the open object.</summary>
    public void Write(Utf8JsonWriter json)
    {
        json.WriteNumber("step_seconds", _step / 1e9);
        json.WriteStartArray("buckets");
        for (var i = 0; i < _counts.Length; i++)
        {
            var start = (long)((ulong)_from + Math.Min((ulong)i * _step, _span));
            json.WriteStartObject();
            json.WriteString("t", ApiResults.FormatCreatedAt(start));
            json.WriteNumber("start", start / 1_000_000);
            json.WriteNumber("count", _counts[i]);
            json.WriteNumber("value", _values[i]);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }
}
