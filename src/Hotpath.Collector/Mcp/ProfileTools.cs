using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using Hotpath.Collector.Api;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Service.Query;
using Hotpath.Service.Query.Changes;
using Hotpath.Storage;
using Microsoft.Extensions.Primitives;
using ModelContextProtocol;
using ModelContextProtocol.Server;

namespace Hotpath.Collector.Mcp;

/// <summary>
/// What an AI assistant asks of the profiles in a postmortem, as MCP tools (Streamable HTTP at <c>/mcp</c>): the
/// services, their types and labels, the top functions of a selection, what changed between two, a function's
/// callers and callees, and a selection over time. Each answer is compact JSON (the top N, never a whole flame
/// graph), computed by the same services as the API, for the request's tenant, from selections parsed as the API
/// parses them; a refusal is a tool error with the API's words.
/// </summary>
[McpServerToolType]
public sealed class ProfileTools(IHttpContextAccessor accessor, TimeProvider time)
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private const string TimeHelp = "RFC 3339 (2026-12-07T10:00:00Z) or relative to now (now, now-1h, now-7d)";
    private const string SelectorHelp = "Prometheus-style label selector, e.g. {version=\"1.5\", region=~\"eu.*\"}; empty for all";

    /// <summary>The request's services: its tenant's store, as every API route reads it.</summary>
    private IServiceProvider Services => accessor.HttpContext?.RequestServices ?? throw new InvalidOperationException("an MCP tool runs within its HTTP request");

    [McpServerTool(Name = "list_services", ReadOnly = true, Idempotent = true, OpenWorld = false)]
    [Description("Lists the services that have stored profiles.")]
    public Task<string> ListServicesAsync(CancellationToken cancellationToken) => RunAsync(async () =>
        await Services.GetRequiredService<IProfileReader>().ListServicesAsync(cancellationToken));

    [McpServerTool(Name = "list_profile_types", ReadOnly = true, Idempotent = true, OpenWorld = false)]
    [Description("Lists the profile types (cpu, heap, block, mutex, goroutine, wall, ...) a service has profiles of in a time range.")]
    public Task<string> ListProfileTypesAsync(
        [Description("The service")] string service,
        [Description("Range start: " + TimeHelp)] string from = "now-24h",
        [Description("Range end: " + TimeHelp)] string to = "now",
        CancellationToken cancellationToken = default) => RunAsync(async () =>
    {
        var query = ApiQuery.Find(Parameters(("service", service), ("from", from), ("to", to)), time.GetUtcNow());
        var types = await Services.GetRequiredService<SelectorQueries>().TypesAsync(
            LabelSelector.Parse($"{{service_name={JsonSerializer.Serialize(service)}}}"), query.FromUnixNanos, query.ToUnixNanos, cancellationToken);
        return types.Select(t => t.Stored.ToWire()).Distinct().Order(StringComparer.Ordinal).ToList();
    });

    [McpServerTool(Name = "list_labels", ReadOnly = true, Idempotent = true, OpenWorld = false)]
    [Description("Lists the label keys of a service's profiles with up to 20 values each (version, region, host, ...), to build selectors from.")]
    public Task<string> ListLabelsAsync([Description("The service")] string service, CancellationToken cancellationToken = default) => RunAsync(async () =>
    {
        var labels = await Services.GetRequiredService<IProfileReader>().ListLabelsAsync(service, cancellationToken);
        return labels.GroupBy(l => l.Key, StringComparer.Ordinal).Select(g => new
        {
            Key = g.Key,
            Values = g.Select(l => l.Value).Distinct(StringComparer.Ordinal).Take(20).ToList(),
            ValuesFound = g.Select(l => l.Value).Distinct(StringComparer.Ordinal).Count(),
        }).ToList();
    });

    [McpServerTool(Name = "top_functions", ReadOnly = true, Idempotent = true, OpenWorld = false)]
    [Description("The functions that take the most of a selection's merged profile: self (flat) and total (cumulative) values and shares, largest self first. Gauges (in-use heap, goroutines) are averaged over time.")]
    public Task<string> TopFunctionsAsync(
        [Description("The service")] string service,
        [Description("Profile type: cpu, heap, block, mutex, goroutine, wall, ...")] string type,
        [Description("Range start: " + TimeHelp)] string from = "now-1h",
        [Description("Range end: " + TimeHelp)] string to = "now",
        [Description(SelectorHelp)] string selector = "",
        [Description("How many functions")] int limit = 15,
        [Description("Sample type to rank by (e.g. alloc_space); empty for the profile's default")] string sampleType = "",
        CancellationToken cancellationToken = default) => RunAsync(async () =>
    {
        var query = ProfilesApi.MergeQuery(Parameters(("service", service), ("type", type), ("from", from), ("to", to), ("query", selector)), time.GetUtcNow());
        var merge = await SelectedMerge.ReadAsync(Services.GetRequiredService<MergeService>(), query, Aggregation.Average, Blank(sampleType), SampleSelection.None, cancellationToken);
        var top = TopTable.Build(merge.Selected, merge.Index);
        return new
        {
            top.SampleType,
            top.Unit,
            Profiles = merge.Count,
            top.Total,
            Functions = top.Rows.Take(Math.Clamp(limit, 1, 200)).Select(r => new
            {
                r.Function,
                Self = r.Flat,
                SelfShare = Share(r.Flat, top.Total),
                Total = r.Cumulative,
                TotalShare = Share(r.Cumulative, top.Total),
            }).ToList(),
        };
    });

    [McpServerTool(Name = "what_changed", ReadOnly = true, Idempotent = true, OpenWorld = false)]
    [Description("What changed between a baseline and a target selection of one service and type (two versions, two regions, this hour against yesterday's): the functions whose share of the profile moved for sure (a two-sample test over the intervals of each side, corrected for the number of functions), largest first, with the change in percentage points, per second in the unit, and the p-value. The target's range and selector default to the baseline's.")]
    public Task<string> WhatChangedAsync(
        [Description("The service")] string service,
        [Description("Profile type: cpu, heap, block, mutex, goroutine, wall, ...")] string type,
        [Description("Baseline range start: " + TimeHelp)] string baselineFrom,
        [Description("Baseline range end: " + TimeHelp)] string baselineTo,
        [Description("Baseline " + SelectorHelp)] string baselineSelector = "",
        [Description("Target range start (default: the baseline's)")] string targetFrom = "",
        [Description("Target range end (default: the baseline's)")] string targetTo = "",
        [Description("Target " + SelectorHelp + " (default: the baseline's)")] string targetSelector = "",
        [Description("Instead of two selectors: compare the two newest values of this label in the baseline's range (e.g. version: the version before and after a deploy)")] string versions = "",
        [Description("Least change of a share, in percentage points, reported as a regression or improvement")] double threshold = 1,
        [Description("How many changed functions")] int limit = 10,
        CancellationToken cancellationToken = default) => RunAsync(async () =>
    {
        var parameters = Parameters(("service", service), ("type", type), ("from", baselineFrom), ("to", baselineTo), ("query", baselineSelector),
            ("cmp_from", targetFrom), ("cmp_to", targetTo), ("cmp_query", targetSelector));
        var at = time.GetUtcNow();
        var finder = Services.GetRequiredService<ChangeFinder>();
        var (baseline, target) = versions.Length > 0
            ? await finder.VersionsAsync(ProfilesApi.MergeQuery(parameters, at), versions, cancellationToken)
            : (ProfilesApi.MergeQuery(parameters, at), ProfilesApi.ComparisonQuery(parameters, at));
        var report = await finder.CompareAsync(baseline, target, null, new ChangeCriteria(threshold, MaxFunctions: Math.Clamp(limit, 1, 100)), cancellationToken);
        return new
        {
            report.SampleType,
            report.Unit,
            Baseline = report.Baseline.Labels,
            Target = report.Target.Labels,
            BaselineProfiles = report.Baseline.Profiles,
            TargetProfiles = report.Target.Profiles,
            report.Compared,
            report.Regressions,
            Changes = report.Changes.Select(c => new
            {
                c.Function,
                Change = c.Kind.ToString().ToLowerInvariant(),
                c.Regressed,
                SelfPoints = Math.Round(c.Self.Points, 2),
                TotalPoints = Math.Round(c.Total.Points, 2),
                SelfShare = new[] { Math.Round(c.Self.BaselineShare, 4), Math.Round(c.Self.TargetShare, 4) },
                TotalShare = new[] { Math.Round(c.Total.BaselineShare, 4), Math.Round(c.Total.TargetShare, 4) },
                PerSecond = Math.Round(Math.Abs(c.Self.Points) >= Math.Abs(c.Total.Points) ? c.Self.PerSecond : c.Total.PerSecond, 1),
                PValue = Math.Min(c.Self.PValue, c.Total.PValue),
            }).ToList(),
        };
    });

    [McpServerTool(Name = "callers_and_callees", ReadOnly = true, Idempotent = true, OpenWorld = false)]
    [Description("A function in context: its direct callers and callees in a selection's merged profile, each with its value and share of the function's total, largest first.")]
    public Task<string> CallersAndCalleesAsync(
        [Description("The service")] string service,
        [Description("Profile type")] string type,
        [Description("The function's full name, as top_functions names it")] string function,
        [Description("Range start: " + TimeHelp)] string from = "now-1h",
        [Description("Range end: " + TimeHelp)] string to = "now",
        [Description(SelectorHelp)] string selector = "",
        [Description("How many callers and callees each")] int limit = 10,
        CancellationToken cancellationToken = default) => RunAsync(async () =>
    {
        var query = ProfilesApi.MergeQuery(Parameters(("service", service), ("type", type), ("from", from), ("to", to), ("query", selector)), time.GetUtcNow());
        var merge = await SelectedMerge.ReadAsync(Services.GetRequiredService<MergeService>(), query, Aggregation.Average, null, SampleSelection.None, cancellationToken);
        var sandwich = Sandwich.Build(merge.Selected, merge.Index, function);
        if (sandwich.Total == 0)
            throw new McpException($"\"{function}\" is on no stack of the selection; top_functions names the functions it has");
        var take = Math.Clamp(limit, 1, 100);
        return new
        {
            Function = function,
            sandwich.Total,
            sandwich.Self,
            Callers = Edges(sandwich.Callers.Root, sandwich.Total, take),
            Callees = Edges(sandwich.Callees.Root, sandwich.Total, take),
        };
    });

    [McpServerTool(Name = "time_series", ReadOnly = true, Idempotent = true, OpenWorld = false)]
    [Description("A selection over time: per interval, how many profiles and the sum of their main value (e.g. CPU nanoseconds), to see when something started.")]
    public Task<string> TimeSeriesAsync(
        [Description("The service")] string service,
        [Description("Profile type")] string type,
        [Description("Range start: " + TimeHelp)] string from = "now-24h",
        [Description("Range end: " + TimeHelp)] string to = "now",
        [Description(SelectorHelp)] string selector = "",
        [Description("How many intervals (1 to 200)")] int points = 24,
        CancellationToken cancellationToken = default) => RunAsync(async () =>
    {
        var query = ApiQuery.Find(Parameters(("service", service), ("type", type), ("from", from), ("to", to), ("query", selector)), time.GetUtcNow());
        var series = await TimeSeries.ReadAsync(Services.GetRequiredService<IProfileReader>(), query, Math.Clamp(points, 1, 200), cancellationToken);
        return new
        {
            series.Profiles,
            series.Value,
            Points = Enumerable.Range(0, series.Counts.Count).Select(i => new
            {
                Start = ApiResults.FormatCreatedAt(series.BucketStart(i)),
                Profiles = series.Counts[i],
                Value = series.Values[i],
            }).ToList(),
        };
    });

    private static object Edges(FlameNode root, long total, int take) =>
        root.Children.Where(c => c.Name != FlameNode.Folded).OrderByDescending(c => c.Total).Take(take)
            .Select(c => new { Function = c.Name, Value = c.Total, Share = Share(c.Total, total) }).ToList();

    private static double Share(long value, long total) => total == 0 ? 0 : Math.Round((double)value / total, 4);

    private static string? Blank(string text) => string.IsNullOrEmpty(text) ? null : text;

    /// <summary>Tool arguments as the API's query parameters (empty ones left out), so that they are read by the API's own rules.</summary>
    private static QueryCollection Parameters(params (string Name, string Value)[] values) =>
        new(values.Where(v => !string.IsNullOrEmpty(v.Value)).ToDictionary(v => v.Name, v => new StringValues(v.Value), StringComparer.Ordinal));

    /// <summary>Runs a tool: its answer as compact JSON, a refusal (bad selection, nothing found) as a tool error in the API's words.</summary>
    private static async Task<string> RunAsync<T>(Func<Task<T>> tool)
    {
        try
        {
            return JsonSerializer.Serialize(await tool(), Json);
        }
        catch (Exception e) when (e is not McpException && ApiException.Of(e) is { } refusal)
        {
            throw new McpException(refusal.Hint is null ? refusal.Message : $"{refusal.Message} ({refusal.Hint})", e);
        }
    }
}
