using System.Globalization;
using System.Text.Json;
using Hotpath.Collector.Merging;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Proto;
using Hotpath.Storage;
using Microsoft.Extensions.Primitives;

namespace Hotpath.Collector.Api;

/// <summary>
/// Read endpoints for the web UI, computed server-side from the same selections as the API, so the browser
/// never parses protobuf: the flame graph and top table of a merge, a diff of two selections, profiles over
/// time, and the labels a service carries.
/// </summary>
public static class UiApi
{
    private const int MaxTopRows = 2000;

    public static IEndpointRouteBuilder MapUiApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/0/ui/profile", ProfileAsync);
        app.MapGet("/api/0/ui/diff", DiffAsync);
        app.MapGet("/api/0/ui/series", SeriesAsync);
        app.MapGet("/api/0/ui/labels", LabelsAsync);
        return app;
    }

    private static async Task<IResult> ProfileAsync(HttpContext context, ProfileMergeService merger, TimeProvider time, CancellationToken cancellationToken)
    {
        var query = ProfilesApi.MergeQuery(context.Request.Query, time.GetUtcNow());
        // The UI averages gauges (in-use memory, goroutines) over time unless asked to sum.
        var aggregation = ApiQuery.Aggregation(context.Request.Query, Aggregation.Average);
        var (merged, count) = await merger.MergeSelectionAsync(query, aggregation, cancellationToken);
        var index = SampleType(merged, context.Request.Query["sample_type"]);
        var flame = FlameGraph.Build(merged, index);
        var top = TopTable.Build(merged, index);
        return ApiResults.Ok(json =>
        {
            json.WriteStartObject();
            WriteHeader(json, merged, index, count, aggregation);
            json.WriteNumber("total", top.Total);
            WriteFlame(json, flame, diff: false);
            json.WriteStartArray("top");
            foreach (var row in top.Rows.Take(MaxTopRows))
            {
                json.WriteStartObject();
                json.WriteString("f", row.Function);
                json.WriteNumber("s", row.Flat);
                json.WriteNumber("t", row.Cumulative);
                WriteFile(json, row.File);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        });
    }

    /// <summary>Baseline: service/type/from/to/labels; comparison: cmp_from/cmp_to/cmp_labels (each defaulting to the baseline's).</summary>
    private static async Task<IResult> DiffAsync(HttpContext context, ProfileMergeService merger, TimeProvider time, CancellationToken cancellationToken)
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
        var (baseline, baselineCount) = await merger.MergeSelectionAsync(baselineQuery, aggregation, cancellationToken);
        var (comparison, comparisonCount) = await merger.MergeSelectionAsync(comparisonQuery, aggregation, cancellationToken);
        var index = SampleType(comparison, parameters["sample_type"]);
        var baselineIndex = SampleType(baseline, comparison.StringTable[(int)comparison.SampleType[index].Type]);

        var flame = FlameGraph.Build(comparison, index, baseline, baselineIndex);
        var now = TopTable.Build(comparison, index);
        var before = TopTable.Build(baseline, baselineIndex).Rows.ToDictionary(r => r.Function, StringComparer.Ordinal);
        var present = now.Rows.Select(r => r.Function).ToHashSet(StringComparer.Ordinal);
        var rows = now.Rows.Select(r => (r.Function, r.File, Self: r.Flat, Total: r.Cumulative, Before: before.GetValueOrDefault(r.Function)))
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
            json.WriteEndObject();
        });
    }

    /// <summary>Profiles over time: count and summed main value per bucket of the window.</summary>
    private static async Task<IResult> SeriesAsync(HttpContext context, IProfileReader reader, TimeProvider time, CancellationToken cancellationToken)
    {
        var query = ApiQuery.Find(context.Request.Query, time.GetUtcNow());
        var bucketsText = context.Request.Query["buckets"].ToString();
        var buckets = bucketsText.Length == 0 ? 60 : int.TryParse(bucketsText, CultureInfo.InvariantCulture, out var b) && b is > 0 and <= 1000
            ? b
            : throw ApiException.BadRequest($"bad \"buckets\" \"{bucketsText}\": a number from 1 to 1000");
        // Unsigned: a window may span every time nanoseconds hold, wider than a long.
        var span = Math.Max(1UL, (ulong)(query.ToUnixNanos - query.FromUnixNanos));
        var step = span / (ulong)buckets + (span % (ulong)buckets == 0 ? 0UL : 1UL);
        // Pieces no wider than a bucket, each counted where it starts.
        var points = await reader.SeriesAsync(query, (long)Math.Min(step, long.MaxValue), cancellationToken);
        var counts = new int[buckets];
        var values = new long[buckets];
        foreach (var point in points)
        {
            var i = (int)Math.Min((ulong)buckets - 1, (ulong)(point.TimeUnixNanos - query.FromUnixNanos) / step);
            counts[i] += point.Profiles;
            values[i] += point.Value;
        }

        long BucketStart(int i) => (long)((ulong)query.FromUnixNanos + Math.Min((ulong)i * step, span));
        return ApiResults.Ok(json =>
        {
            json.WriteStartObject();
            json.WriteNumber("step_seconds", step / 1e9);
            json.WriteStartArray("buckets");
            for (var i = 0; i < buckets; i++)
            {
                json.WriteStartObject();
                json.WriteString("t", ApiResults.FormatCreatedAt(BucketStart(i)));
                json.WriteNumber("start", BucketStart(i) / 1_000_000);
                json.WriteNumber("count", counts[i]);
                json.WriteNumber("value", values[i]);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        });
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
    }

    /// <summary>A top row's source file, left out when the profile has none (most rows of .NET framework code).</summary>
    private static void WriteFile(Utf8JsonWriter json, string file)
    {
        if (file.Length > 0)
            json.WriteString("file", file);
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
