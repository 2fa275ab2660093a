using Hotpath.Collector.Hosting;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Proto;
using Hotpath.Pprof.Pyroscope.Querier;
using Hotpath.Service.Query;
using Microsoft.Extensions.Options;
using PyroscopeTypes = Hotpath.Pprof.Pyroscope.Types;

namespace Hotpath.Collector.Api;

/// <summary>
/// Grafana Pyroscope's query service, <c>querier.v1.QuerierService</c>, over Connect at
/// <c>POST /querier.v1.QuerierService/&lt;Method&gt;</c>: what Grafana's Pyroscope data source, Profiles Drilldown
/// and Perses call. Reads need the read token. Times are Unix milliseconds; a start or end of 0 means the last hour.
/// </summary>
public static class QuerierApi
{
    private static readonly TimeSpan DefaultRange = TimeSpan.FromHours(1);

    public static IEndpointRouteBuilder MapQuerierApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/querier.v1.QuerierService/{method}", HandleAsync).WithMetadata(ApiAccess.ReadsOnly, ConnectEndpoint.Instance);
        return app;
    }

    private static async Task<IResult> HandleAsync(string method, HttpContext context, SelectorQueries queries, IOptions<CollectorOptions> options,
        DecodeBudget budget, TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            async Task<T> Read<T>(Google.Protobuf.MessageParser<T> parser)
                where T : Google.Protobuf.IMessage<T>, new() =>
                await ConnectUnary.ReadAsync(context, parser, options.Value.MaxBodySize, options.Value.MaxDecompressedSize, budget, cancellationToken);
            var now = time.GetUtcNow();
            return method switch
            {
                "ProfileTypes" => ConnectUnary.Reply(context, await ProfileTypesAsync(await Read(ProfileTypesRequest.Parser), queries, now, cancellationToken)),
                "LabelNames" => ConnectUnary.Reply(context, await LabelNamesAsync(await Read(PyroscopeTypes.LabelNamesRequest.Parser), queries, now, cancellationToken)),
                "LabelValues" => ConnectUnary.Reply(context, await LabelValuesAsync(await Read(PyroscopeTypes.LabelValuesRequest.Parser), queries, now, cancellationToken)),
                "SelectMergeStacktraces" => ConnectUnary.Reply(context,
                    await SelectMergeStacktracesAsync(await Read(SelectMergeStacktracesRequest.Parser), queries, now, cancellationToken)),
                "SelectMergeProfile" => ConnectUnary.Reply(context, await SelectMergeProfileAsync(await Read(SelectMergeProfileRequest.Parser), queries, now, cancellationToken)),
                "SelectSeries" => ConnectUnary.Reply(context, await SelectSeriesAsync(await Read(SelectSeriesRequest.Parser), queries, now, cancellationToken)),
                "Diff" => ConnectUnary.Reply(context, await DiffAsync(await Read(DiffRequest.Parser), queries, now, cancellationToken)),
                "Series" => ConnectUnary.Reply(context, await SeriesAsync(await Read(SeriesRequest.Parser), queries, now, cancellationToken)),
                "GetProfileStats" => ConnectUnary.Reply(context, await ProfileStatsAsync(await Read(PyroscopeTypes.GetProfileStatsRequest.Parser), queries, now, cancellationToken)),
                _ => throw new ApiException(StatusCodes.Status501NotImplemented,
                    $"querier.v1.QuerierService/{method} is not served here: ProfileTypes, LabelNames, LabelValues, Series, SelectMergeStacktraces, SelectMergeProfile, SelectSeries, Diff, GetProfileStats"),
            };
        }
        catch (Exception e) when (ApiException.Of(e) is { } refusal)
        {
            return ConnectUnary.Error(context, refusal);
        }
    }

    private static async Task<ProfileTypesResponse> ProfileTypesAsync(ProfileTypesRequest request, SelectorQueries queries, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var (from, to) = Range(request.Start, request.End, now);
        var response = new ProfileTypesResponse();
        var types = await queries.TypesAsync(LabelSelector.Empty, from, to, cancellationToken);
        foreach (var id in types.Select(t => t.Type).DistinctBy(t => t.Id).OrderBy(t => t.Id, StringComparer.Ordinal))
        {
            response.ProfileTypes.Add(new PyroscopeTypes.ProfileType
            {
                ID = id.Id, Name = id.Name, SampleType = id.SampleType, SampleUnit = id.SampleUnit, PeriodType = id.PeriodType, PeriodUnit = id.PeriodUnit,
            });
        }

        return response;
    }

    private static async Task<PyroscopeTypes.LabelNamesResponse> LabelNamesAsync(PyroscopeTypes.LabelNamesRequest request, SelectorQueries queries,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (from, to) = Range(request.Start, request.End, now);
        return new PyroscopeTypes.LabelNamesResponse
        {
            Names = { await UnionAsync(request.Matchers, selector => queries.LabelNamesAsync(selector, from, to, cancellationToken)) },
        };
    }

    private static async Task<PyroscopeTypes.LabelValuesResponse> LabelValuesAsync(PyroscopeTypes.LabelValuesRequest request, SelectorQueries queries,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (from, to) = Range(request.Start, request.End, now);
        return new PyroscopeTypes.LabelValuesResponse
        {
            Names = { await UnionAsync(request.Matchers, selector => queries.LabelValuesAsync(request.Name, selector, from, to, cancellationToken)) },
        };
    }

    /// <summary>What each selector of the matchers answers, together and sorted (Pyroscope ORs its matchers).</summary>
    private static async Task<SortedSet<string>> UnionAsync(IReadOnlyCollection<string> matchers, Func<LabelSelector, Task<IReadOnlyList<string>>> answer)
    {
        var union = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var selector in Selectors(matchers))
            union.UnionWith(await answer(selector));
        return union;
    }

    /// <param name="request">Empty; read as any method's, so that a malformed one is refused.</param>
    private static async Task<PyroscopeTypes.GetProfileStatsResponse> ProfileStatsAsync(PyroscopeTypes.GetProfileStatsRequest request, SelectorQueries queries,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        return await queries.StatsAsync(UnixNanos.From(now), cancellationToken) is var (oldest, newest)
            ? new PyroscopeTypes.GetProfileStatsResponse { DataIngested = true, OldestProfileTime = oldest / 1_000_000, NewestProfileTime = newest / 1_000_000 }
            : new PyroscopeTypes.GetProfileStatsResponse();
    }

    private static async Task<SeriesResponse> SeriesAsync(SeriesRequest request, SelectorQueries queries, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (from, to) = Range(request.Start, request.End, now);
        var response = new SeriesResponse();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var selector in Selectors(request.Matchers))
        {
            foreach (var set in await queries.LabelSetsAsync(selector, [.. request.LabelNames], from, to, cancellationToken))
            {
                if (seen.Add(LabelSetKey.Encode(set)))
                    response.LabelsSet.Add(new PyroscopeTypes.Labels { Labels_ = { set.Select(l => new PyroscopeTypes.LabelPair { Name = l.Key, Value = l.Value }) } });
            }
        }

        return response;
    }

    private static async Task<SelectMergeStacktracesResponse> SelectMergeStacktracesAsync(SelectMergeStacktracesRequest request, SelectorQueries queries,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (from, to) = Range(request.Start, request.End, now);
        var merged = await queries.MergeAsync(request.ProfileTypeID, LabelSelector.Parse(request.LabelSelector), from, to, cancellationToken);
        var callSite = request.StackTraceSelector?.CallSite.Select(l => l.Name).ToList() ?? [];
        var flame = merged is var (profile, sampleType)
            ? PyroscopeFlameGraph.Of(profile.ThroughCallSite(callSite), sampleType,
                MaxNodes(request))
            : PyroscopeFlameGraph.Empty;
        var graph = new Hotpath.Pprof.Pyroscope.Querier.FlameGraph { Total = flame.Total, MaxSelf = flame.MaxSelf, Names = { flame.Names }, Levels = { Levels(flame) } };
        return new SelectMergeStacktracesResponse { Flamegraph = graph };
    }

    private static async Task<SelectSeriesResponse> SelectSeriesAsync(SelectSeriesRequest request, SelectorQueries queries, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var (from, to) = Range(request.Start, request.End, now);
        // Grafana always sends a step; without one, about 100 points over the range.
        var step = request.Step > 0 ? (long)Math.Min(request.Step * 1e9, long.MaxValue / 2) : Math.Max(1_000_000_000, (to - from) / 100);
        var average = request.HasAggregation && request.Aggregation == PyroscopeTypes.TimeSeriesAggregationType.Average;
        var series = await queries.SeriesAsync(request.ProfileTypeID, LabelSelector.Parse(request.LabelSelector), from, to, request.GroupBy, step, average,
            request.HasLimit ? (int)Math.Clamp(request.Limit, 0, int.MaxValue) : 0, cancellationToken);
        var response = new SelectSeriesResponse();
        foreach (var one in series)
        {
            var message = new PyroscopeTypes.Series();
            message.Labels.AddRange(one.Labels.Select(l => new PyroscopeTypes.LabelPair { Name = l.Key, Value = l.Value }));
            message.Points.AddRange(one.Points.Select(p => new PyroscopeTypes.Point { Timestamp = p.Time / 1_000_000, Value = p.Value }));
            response.Series.Add(message);
        }

        return response;
    }

    private static async Task<DiffResponse> DiffAsync(DiffRequest request, SelectorQueries queries, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (request.Left is null || request.Right is null)
            throw new Service.InvalidRequestException("a diff needs both left and right");
        var (leftFrom, leftTo) = Range(request.Left.Start, request.Left.End, now);
        var (rightFrom, rightTo) = Range(request.Right.Start, request.Right.End, now);
        var maxNodes = MaxNodes(request.Right);
        var flame = await queries.DiffAsync((request.Left.ProfileTypeID, LabelSelector.Parse(request.Left.LabelSelector), leftFrom, leftTo),
            (request.Right.ProfileTypeID, LabelSelector.Parse(request.Right.LabelSelector), rightFrom, rightTo), maxNodes, cancellationToken);
        var graph = new FlameGraphDiff
        {
            Total = flame.Total + flame.LeftTotal, MaxSelf = flame.MaxSelf, LeftTicks = flame.LeftTotal, RightTicks = flame.Total,
            Names = { flame.Names }, Levels = { Levels(flame) },
        };
        return new DiffResponse { Flamegraph = graph };
    }

    /// <summary>A request's <c>max_nodes</c>, Pyroscope's default when it names none.</summary>
    private static long MaxNodes(SelectMergeStacktracesRequest request) =>
        request.HasMaxNodes && request.MaxNodes > 0 ? request.MaxNodes : PyroscopeFlameGraph.DefaultMaxNodes;

    private static IEnumerable<Level> Levels(PyroscopeFlameGraph flame) => flame.Levels.Select(level => new Level { Values = { level } });

    private static async Task<Profile> SelectMergeProfileAsync(SelectMergeProfileRequest request, SelectorQueries queries, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var (from, to) = Range(request.Start, request.End, now);
        var merged = await queries.MergeAsync(request.ProfileTypeID, LabelSelector.Parse(request.LabelSelector), from, to, cancellationToken);
        return merged is var (profile, sampleType) ? profile.OnlySampleType(sampleType) : new Profile();
    }

    /// <summary>
    /// Each matcher text a selector (Pyroscope ORs them), each a query of its own, so at most
    /// <see cref="LabelSelector.MaxMatchers"/>; none selects everything.
    /// </summary>
    private static IReadOnlyList<LabelSelector> Selectors(IReadOnlyCollection<string> matchers)
    {
        if (matchers.Count > LabelSelector.MaxMatchers)
            throw ApiException.BadRequest($"{matchers.Count} selectors in \"matchers\"; at most {LabelSelector.MaxMatchers}");
        var selectors = matchers.Select(LabelSelector.Parse).ToList();
        return selectors.Count == 0 ? [LabelSelector.Empty] : selectors;
    }

    /// <summary>Unix milliseconds to an inclusive range of Unix nanoseconds; 0 for either end is the last hour.</summary>
    private static (long From, long To) Range(long startMs, long endMs, DateTimeOffset now)
    {
        var end = endMs > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(Math.Min(endMs, DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())) : now;
        var start = startMs > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(Math.Min(startMs, DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())) : end - DefaultRange;
        if (start > end)
            throw new Service.InvalidRequestException($"start {startMs} is after end {endMs}");
        return (UnixNanos.Clamp(start), UnixNanos.Clamp(end));
    }
}
