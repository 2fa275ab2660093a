using System.Globalization;
using System.Text.Json;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Proto;
using Hotpath.Service.Query;
using Hotpath.Storage;

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

    /// <summary>Most sample label values offered per key, as many as the explorer ranks.</summary>
    private const int MaxSampleLabelValues = LabelExploration.MaxValues;

    public static IEndpointRouteBuilder MapUiApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/0/ui/profile", ProfileAsync);
        app.MapGet("/api/0/ui/diff", DiffAsync);
        app.MapGet("/api/0/ui/series", SeriesAsync);
        app.MapGet("/api/0/ui/labels", LabelsAsync);
        app.MapGet("/api/0/ui/types", Types);
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
    private static Task<SelectedMerge> MergeAsync(IQueryCollection parameters, MergeService merger, DateTimeOffset now, CancellationToken cancellationToken) =>
        SelectedMerge.ReadAsync(merger, ProfilesApi.MergeQuery(parameters, now), ApiQuery.Aggregation(parameters, Aggregation.Average),
            parameters["sample_type"].ToString(), Selection(parameters), cancellationToken);

    /// <summary><c>sample_labels=k=v,…</c> (escaped as <c>labels</c> is) and <c>group_by=k</c>.</summary>
    private static SampleSelection Selection(IQueryCollection parameters)
    {
        var filters = ApiQuery.Labels(parameters, "sample_labels");
        var groupBy = parameters["group_by"].ToString();
        return filters.Count == 0 && groupBy.Length == 0
            ? SampleSelection.None
            : new SampleSelection([.. filters.Select(l => KeyValuePair.Create(l.Key, l.Value))], groupBy.Length == 0 ? null : groupBy);
    }

    /// <summary>Baseline: service/type/from/to/labels/query; comparison: cmp_from/cmp_to/cmp_labels/cmp_query (<see cref="ProfilesApi.ComparisonQuery"/>).</summary>
    private static async Task<IResult> DiffAsync(HttpContext context, MergeService merger, TimeProvider time, CancellationToken cancellationToken)
    {
        var parameters = context.Request.Query;
        // One "now" for both sides, so that relative ranges are the same length.
        var at = time.GetUtcNow();
        var baselineQuery = ProfilesApi.MergeQuery(parameters, at);
        var comparisonQuery = ProfilesApi.ComparisonQuery(parameters, at);
        var diff = await ProfileDiff.ReadAsync(merger, baselineQuery, comparisonQuery, ApiQuery.Aggregation(parameters, Aggregation.Average),
            parameters["sample_type"].ToString(), Selection(parameters), cancellationToken);
        var (comparison, index, flame) = (diff.Comparison, diff.Index, diff.Flame);

        return ApiResults.Ok(json =>
        {
            json.WriteStartObject();
            WriteHeader(json, comparison, index, diff.Count, diff.Aggregation);
            json.WriteNumber("baseline_profiles", diff.BaselineCount);
            json.WriteNumber("total", flame.Root.Total);
            json.WriteNumber("baseline_total", flame.Root.BaselineTotal);
            WriteFlame(json, flame, diff: true);
            json.WriteStartArray("top");
            foreach (var row in diff.Rows.Take(MaxTopRows))
            {
                json.WriteStartObject();
                json.WriteString("f", row.Function);
                json.WriteNumber("s", row.Self);
                json.WriteNumber("t", row.Total);
                json.WriteNumber("bs", row.BaselineSelf);
                json.WriteNumber("bt", row.BaselineTotal);
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
        var series = await TimeSeries.ReadAsync(reader, query, Buckets(context.Request.Query), cancellationToken);
        return ApiResults.Ok(json =>
        {
            json.WriteStartObject();
            WriteSeries(json, series);
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
        var exploration = await LabelExploration.ReadAsync(reader, query, key, buckets, cancellationToken);
        return ApiResults.Ok(json =>
        {
            json.WriteStartObject();
            json.WriteString("key", key);
            json.WriteNumber("total", exploration.Total);
            json.WriteNumber("values_found", exploration.ValuesFound);
            json.WriteStartArray("values");
            foreach (var (value, series, share) in exploration.Values)
            {
                json.WriteStartObject();
                json.WriteString("value", value);
                json.WriteNumber("total", series.Value);
                json.WriteNumber("profiles", series.Profiles);
                json.WriteNumber("share", share);
                WriteSeries(json, series);
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

    /// <summary>The profile types a view can show, as the API names them: the UI offers these, not a list of its own.</summary>
    private static IResult Types() => ApiResults.Ok(json =>
    {
        json.WriteStartArray();
        foreach (var type in ProfileTypes.Mergeable)
            json.WriteStringValue(type.ToWire());
        json.WriteEndArray();
    });

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
        foreach (var key in SampleLabelKey.Of(profile, index, MaxSampleLabelValues))
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

    /// <summary>Writes <c>step_seconds</c> and <c>buckets: [{t, start, count, value}]</c> into the open object.</summary>
    private static void WriteSeries(Utf8JsonWriter json, TimeSeries series)
    {
        json.WriteNumber("step_seconds", series.Step / 1e9);
        json.WriteStartArray("buckets");
        for (var i = 0; i < series.Counts.Count; i++)
        {
            var start = series.BucketStart(i);
            json.WriteStartObject();
            json.WriteString("t", ApiResults.FormatCreatedAt(start));
            json.WriteNumber("start", start / 1_000_000);
            json.WriteNumber("count", series.Counts[i]);
            json.WriteNumber("value", series.Values[i]);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }
}
