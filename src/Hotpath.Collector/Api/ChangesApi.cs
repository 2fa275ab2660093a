using System.Globalization;
using System.Text.Json;
using Hotpath.Service.Query.Changes;

namespace Hotpath.Collector.Api;

/// <summary>
/// <c>GET /api/0/changes</c>: what changed between a baseline (<c>service</c>, <c>type</c>, <c>from</c>, <c>to</c>,
/// <c>labels</c>, <c>query</c>) and a target (<c>cmp_from</c>, <c>cmp_to</c>, <c>cmp_labels</c>, <c>cmp_query</c>, each
/// defaulting to the baseline's), or with <c>versions=KEY</c> the selection's two newest values of that label (the version
/// before and after a deploy), as JSON: the functions whose share moved for sure, largest first
/// (<see cref="ChangeFinder"/>). <c>threshold</c> (percentage points, 1), <c>confidence</c> (0.99), <c>top</c> (20),
/// <c>sample_type</c> (the profile's default).
/// </summary>
public static class ChangesApi
{
    public static IEndpointRouteBuilder MapChangesApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/0/changes", ChangesAsync);
        return app;
    }

    private static async Task<IResult> ChangesAsync(HttpContext context, ChangeFinder finder, TimeProvider time, CancellationToken cancellationToken)
    {
        var parameters = context.Request.Query;
        var at = time.GetUtcNow();
        var criteria = new ChangeCriteria(
            Number(parameters, "threshold", 1.0),
            Number(parameters, "confidence", 0.99),
            (int)Number(parameters, "top", 20));
        var (baseline, target) = parameters["versions"].ToString() is { Length: > 0 } key
            ? await finder.VersionsAsync(ProfilesApi.MergeQuery(parameters, at), key, cancellationToken)
            : (ProfilesApi.MergeQuery(parameters, at), ProfilesApi.ComparisonQuery(parameters, at));
        var report = await finder.CompareAsync(baseline, target,
            parameters["sample_type"].ToString() is { Length: > 0 } sampleType ? sampleType : null, criteria, cancellationToken);
        return ApiResults.Ok(json => Write(json, report));
    }

    private static double Number(IQueryCollection parameters, string name, double byDefault)
    {
        var text = parameters[name].ToString();
        if (text.Length == 0)
            return byDefault;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
            ? value
            : throw ApiException.BadRequest($"bad \"{name}\" \"{text}\": not a number");
    }

    /// <summary>The report as JSON: shares as fractions (0.08 is 8%), changes in percentage points, values per second in the unit.</summary>
    public static void Write(Utf8JsonWriter json, ChangeReport report)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(report);
        json.WriteStartObject();
        json.WriteString("sample_type", report.SampleType);
        json.WriteString("unit", report.Unit);
        json.WriteNumber("interval_seconds", report.IntervalSeconds);
        json.WriteNumber("threshold", report.Criteria.ThresholdPoints);
        json.WriteNumber("confidence", report.Criteria.Confidence);
        WriteSide(json, "baseline", report.Baseline);
        WriteSide(json, "target", report.Target);
        json.WriteNumber("compared", report.Compared);
        json.WriteNumber("regressions", report.Regressions);
        json.WriteStartArray("changes");
        foreach (var change in report.Changes)
        {
            json.WriteStartObject();
            json.WriteString("function", change.Function);
            if (change.File.Length > 0)
                json.WriteString("file", change.File);
            json.WriteString("change", change.Kind.ToString().ToLowerInvariant());
            json.WriteBoolean("regressed", change.Regressed);
            WriteShare(json, "self", change.Self);
            WriteShare(json, "total", change.Total);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteSide(Utf8JsonWriter json, string name, ChangeSide side)
    {
        json.WriteStartObject(name);
        json.WriteString("from", ApiResults.FormatCreatedAt(side.Query.FromUnixNanos));
        json.WriteString("to", ApiResults.FormatCreatedAt(side.Query.ToUnixNanos));
        json.WriteString("labels", side.Labels);
        json.WriteNumber("profiles", side.Profiles);
        json.WriteNumber("intervals", side.Intervals);
        json.WriteNumber("total", side.Total);
        json.WriteEndObject();
    }

    private static void WriteShare(Utf8JsonWriter json, string name, ShareChange share)
    {
        json.WriteStartObject(name);
        json.WriteNumber("baseline_share", Math.Round(share.BaselineShare, 6));
        json.WriteNumber("target_share", Math.Round(share.TargetShare, 6));
        json.WriteNumber("points", Math.Round(share.Points, 3));
        json.WriteNumber("baseline_per_second", Math.Round(share.BaselinePerSecond, 3));
        json.WriteNumber("target_per_second", Math.Round(share.TargetPerSecond, 3));
        json.WriteNumber("per_second", Math.Round(share.PerSecond, 3));
        json.WriteNumber("p_value", share.PValue);
        json.WriteEndObject();
    }
}
