using System.Globalization;
using System.Text.Json;
using Hotpath.Collector.Hosting;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Conversions;
using Hotpath.Service.Query;

namespace Hotpath.Collector.Api;

/// <summary>
/// Pyroscope's HTTP query API, which Perses and older Grafana panels read: <c>/pyroscope/render</c> (a
/// flamebearer with its timeline), <c>/pyroscope/labels</c>, <c>/pyroscope/label-values</c>, and
/// <c>settings.v1.SettingsService/Get</c>, which Profiles Drilldown calls on load (Hotpath keeps no settings).
/// <c>query</c> is a type id and a selector (<c>process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="api"}</c>);
/// <c>from</c> and <c>until</c> are <c>now-1h</c>, Unix seconds or milliseconds, or RFC 3339. Errors are Connect's shape.
/// </summary>
public static class PyroscopeQueryApi
{
    private static readonly TimeSpan DefaultRange = TimeSpan.FromHours(1);

    // Steps a render's timeline rounds to, as Grafana's and Pyroscope's interval calculation does: about 1,500
    // points over the range, at least 15 s.
    private static readonly long[] StepSeconds = [15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800, 2592000];

    public static IEndpointRouteBuilder MapPyroscopeQueryApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/pyroscope/render", RenderAsync).WithMetadata(ConnectEndpoint.Instance);
        app.MapGet("/pyroscope/render-diff", RenderDiffAsync).WithMetadata(ConnectEndpoint.Instance);
        app.MapGet("/pyroscope/labels", LabelsAsync).WithMetadata(ConnectEndpoint.Instance);
        app.MapGet("/pyroscope/label-values", LabelValuesAsync).WithMetadata(ConnectEndpoint.Instance);
        app.MapPost("/settings.v1.SettingsService/Get", Settings).WithMetadata(ApiAccess.ReadsOnly, ConnectEndpoint.Instance);
        return app;
    }

    private static async Task<IResult> RenderAsync(HttpContext context, SelectorQueries queries, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            var parameters = context.Request.Query;
            var now = time.GetUtcNow();
            var (typeId, selector, from, to) = Selection(parameters, "query", "from", "until", now);
            var merged = await queries.MergeAsync(typeId, selector, from, to, cancellationToken);
            var flame = merged is var (profile, sampleType) ? PyroscopeFlameGraph.Of(profile, sampleType, MaxNodes(parameters)) : PyroscopeFlameGraph.Empty;
            var step = Step(from, to);
            var groupBy = parameters["groupBy"].Where(g => !string.IsNullOrEmpty(g)).Select(g => g!).ToList();
            var series = await queries.SeriesAsync(typeId, selector, from, to, groupBy, step * 1_000_000_000, parameters["aggregation"] == "avg", 0, cancellationToken);
            return Results.Stream(async body =>
            {
                await using var json = new Utf8JsonWriter(body);
                json.WriteStartObject();
                WriteFlamebearer(json, flame, flame.Total, typeId, "single");
                json.WritePropertyName("timeline");
                WriteTimeline(json, series.Count == 1 && groupBy.Count == 0 ? series[0] : null, from, to, step);
                if (groupBy.Count > 0)
                {
                    json.WriteStartObject("groups");
                    foreach (var one in series)
                    {
                        json.WritePropertyName(one.Labels.Count > 0 ? one.Labels[0].Value : "*");
                        WriteTimeline(json, one, from, to, step);
                    }

                    json.WriteEndObject();
                }
                else
                {
                    json.WriteNull("groups");
                }

                json.WriteNull("heatmap");
                json.WriteEndObject();
            }, "application/json");
        }
        catch (Exception e) when (ApiException.Of(e) is { } refusal)
        {
            return ConnectUnary.Error(context, refusal);
        }
    }

    /// <summary>
    /// Pyroscope's diff of two selections as its UI and older Grafana panels read it: <c>leftQuery</c>,
    /// <c>leftFrom</c>, <c>leftUntil</c> and the same for the right, of one profile type; a flamebearer in the
    /// "double" format, each node's left offset, total and self, then the right's, then its name.
    /// </summary>
    private static async Task<IResult> RenderDiffAsync(HttpContext context, SelectorQueries queries, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            var parameters = context.Request.Query;
            var now = time.GetUtcNow();
            var left = Selection(parameters, "leftQuery", "leftFrom", "leftUntil", now);
            var right = Selection(parameters, "rightQuery", "rightFrom", "rightUntil", now);
            if (left.TypeId != right.TypeId)
                throw new Service.InvalidRequestException($"the profile types of leftQuery ({left.TypeId}) and rightQuery ({right.TypeId}) must be one");
            var flame = await queries.DiffAsync(left, right, MaxNodes(parameters), cancellationToken);
            return Results.Stream(async body =>
            {
                await using var json = new Utf8JsonWriter(body);
                json.WriteStartObject();
                WriteFlamebearer(json, flame, flame.LeftTotal + flame.Total, left.TypeId, "double");
                json.WriteNumber("leftTicks", flame.LeftTotal);
                json.WriteNumber("rightTicks", flame.Total);
                json.WriteNull("timeline");
                json.WriteEndObject();
            }, "application/json");
        }
        catch (Exception e) when (ApiException.Of(e) is { } refusal)
        {
            return ConnectUnary.Error(context, refusal);
        }
    }

    /// <summary>A query parameter's type id and selector, and the range of the two time parameters.</summary>
    private static (string TypeId, LabelSelector Selector, long From, long To) Selection(IQueryCollection parameters, string query, string from, string until,
        DateTimeOffset now)
    {
        var (typeId, selector) = Query(parameters[query].ToString(), typeRequired: true, query);
        var range = Range(parameters, from, until, now);
        return (typeId!, selector, range.From, range.To);
    }

    private static long MaxNodes(IQueryCollection parameters) =>
        long.TryParse(parameters["max-nodes"].FirstOrDefault() ?? parameters["maxNodes"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var max) && max > 0
            ? max : PyroscopeFlameGraph.DefaultMaxNodes;

    /// <summary>The version, the flamebearer (names, levels, ticks) and its metadata (format, units, sample rate) of a render.</summary>
    private static void WriteFlamebearer(Utf8JsonWriter json, PyroscopeFlameGraph flame, long ticks, string typeId, string format)
    {
        PyroscopeTypeId.TryParse(typeId, out var id);
        var (units, sampleRate) = id!.SampleType switch
        {
            "cpu" => ("samples", 1_000_000_000),
            "inuse_objects" or "alloc_objects" or "goroutine" or "samples" => ("objects", 100),
            _ => (id.SampleUnit, 100),
        };
        json.WriteNumber("version", 1);
        json.WriteStartObject("flamebearer");
        WriteStrings(json, "names", flame.Names);
        json.WriteStartArray("levels");
        foreach (var level in flame.Levels)
        {
            json.WriteStartArray();
            foreach (var value in level)
                json.WriteNumberValue(value);
            json.WriteEndArray();
        }

        json.WriteEndArray();
        json.WriteNumber("numTicks", ticks);
        json.WriteNumber("maxSelf", flame.MaxSelf);
        json.WriteEndObject();
        json.WriteStartObject("metadata");
        json.WriteString("format", format);
        json.WriteString("spyName", "");
        json.WriteNumber("sampleRate", sampleRate);
        json.WriteString("units", units);
        json.WriteString("name", id.SampleType);
        json.WriteEndObject();
    }

    /// <summary>A timeline: a value per step from the range's start (snapped to a step) to its end, 0 where nothing is.</summary>
    private static void WriteTimeline(Utf8JsonWriter json, SelectedSeries? series, long from, long to, long step)
    {
        var stepNanos = step * 1_000_000_000;
        var start = from / stepNanos * stepNanos;
        var count = (int)Math.Clamp((to / stepNanos * stepNanos - start) / stepNanos, 0, 100_000);
        var samples = new double[count];
        foreach (var (time, value) in series?.Points ?? [])
        {
            var index = (time - start) / stepNanos;
            if (index >= 0 && index < count)
                samples[index] += value;
        }

        json.WriteStartObject();
        json.WriteNumber("startTime", start / 1_000_000_000);
        json.WriteStartArray("samples");
        foreach (var sample in samples)
            json.WriteNumberValue((ulong)Math.Max(0, sample));
        json.WriteEndArray();
        json.WriteNumber("durationDelta", step);
        json.WriteNull("watermarks");
        json.WriteEndObject();
    }

    private static async Task<IResult> LabelsAsync(HttpContext context, SelectorQueries queries, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            var (_, selector) = Query(context.Request.Query["query"].ToString(), typeRequired: false, "query");
            var (from, to) = Range(context.Request.Query, "from", "until", time.GetUtcNow());
            return Results.Json(await queries.LabelNamesAsync(selector, from, to, cancellationToken), PyroscopeJson.Default.IReadOnlyListString);
        }
        catch (Exception e) when (ApiException.Of(e) is { } refusal)
        {
            return ConnectUnary.Error(context, refusal);
        }
    }

    private static async Task<IResult> LabelValuesAsync(HttpContext context, SelectorQueries queries, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            var label = context.Request.Query["label"].ToString();
            if (label.Length == 0)
                throw new Service.InvalidRequestException("missing \"label\"");
            var (_, selector) = Query(context.Request.Query["query"].ToString(), typeRequired: false, "query");
            var (from, to) = Range(context.Request.Query, "from", "until", time.GetUtcNow());
            return Results.Json(await queries.LabelValuesAsync(label, selector, from, to, cancellationToken), PyroscopeJson.Default.IReadOnlyListString);
        }
        catch (Exception e) when (ApiException.Of(e) is { } refusal)
        {
            return ConnectUnary.Error(context, refusal);
        }
    }

    /// <summary>No settings: an empty list in the request's codec.</summary>
    private static IResult Settings(HttpContext context) =>
        ConnectUnary.IsJson(context.Request) ? Results.Text("{\"settings\":[]}", "application/json") : Results.Bytes([], "application/proto");

    /// <summary>A query's type id (the text before the selector) and selector; a type id may be required.</summary>
    private static (string? TypeId, LabelSelector Selector) Query(string query, bool typeRequired, string name)
    {
        var brace = query.IndexOf('{', StringComparison.Ordinal);
        var typeId = (brace < 0 ? query : query[..brace]).Trim();
        if (typeRequired && typeId.Length == 0)
            throw new Service.InvalidRequestException($"\"{name}\" must name a profile type: process_cpu:cpu:nanoseconds:cpu:nanoseconds{{service_name=\"api\"}}");
        return (typeId.Length == 0 ? null : typeId, LabelSelector.Parse(brace < 0 ? "" : query[brace..]));
    }

    private static (long From, long To) Range(IQueryCollection parameters, string fromName, string untilName, DateTimeOffset now)
    {
        var until = Time(parameters[untilName].ToString(), now, untilName) ?? now;
        var from = Time(parameters[fromName].ToString(), now, fromName) ?? until - DefaultRange;
        if (from > until)
            throw new Service.InvalidRequestException($"\"{fromName}\" is after \"{untilName}\"");
        return (UnixNanos.Clamp(from), UnixNanos.Clamp(until));
    }

    /// <summary>Pyroscope's time forms: now, now-1h, Unix seconds or milliseconds, RFC 3339; null when absent.</summary>
    private static DateTimeOffset? Time(string text, DateTimeOffset now, string name)
    {
        if (text.Length == 0)
            return null;
        if (ProfileTime.TryParseRelative(text, now, out var relative) || ProfileTime.TryParse(text, out relative))
            return relative;
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return number >= 100_000_000_000
                ? DateTimeOffset.FromUnixTimeMilliseconds(Math.Min(number, DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()))
                : DateTimeOffset.FromUnixTimeSeconds(number);
        }

        throw new Service.InvalidRequestException($"bad \"{name}\" \"{text}\": now, now-1h, Unix seconds or milliseconds, or RFC 3339");
    }

    /// <summary>The timeline's step in seconds: about 1,500 points over the range, rounded up to a round step, at least 15 s.</summary>
    private static long Step(long from, long to)
    {
        var wanted = (to - from) / 1500 / 1_000_000_000;
        return StepSeconds.FirstOrDefault(s => s >= wanted, StepSeconds[^1]);
    }

    private static void WriteStrings(Utf8JsonWriter json, string name, IReadOnlyList<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
            json.WriteStringValue(value);
        json.WriteEndArray();
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(IReadOnlyList<string>))]
internal sealed partial class PyroscopeJson : System.Text.Json.Serialization.JsonSerializerContext;
