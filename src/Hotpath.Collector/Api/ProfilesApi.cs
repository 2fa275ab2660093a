using Hotpath.Collector.Hosting;
using Hotpath.Pprof;
using Hotpath.Service.Ingest;
using Hotpath.Service.Query;
using Hotpath.Storage;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Hotpath.Collector.Api;

/// <summary>POST, find, merge and get of /api/0/profiles: HTTP in, storage and pprof calls, HTTP out.</summary>
public static class ProfilesApi
{
    public static IEndpointRouteBuilder MapProfilesApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/0/profiles", WriteAsync);
        app.MapGet("/api/0/profiles", FindAsync);
        app.MapGet("/api/0/profiles/merge", MergeQueryAsync);
        app.MapGet("/api/0/profiles/{ids}", GetAsync);
        return app;
    }

    private static async Task<IResult> WriteAsync(
        HttpContext context, IngestService ingest, CollectorMetrics metrics, IOptions<CollectorOptions> options, CancellationToken cancellationToken)
    {
        var query = context.Request.Query;
        var service = ApiQuery.RequiredString(query, "service");
        if (!ProfileTypes.TryParse(query["type"], out var type))
            throw ApiException.UnknownType(query["type"]);
        var labels = ApiQuery.Labels(query);
        var createdAt = ApiQuery.CreatedAt(query);
        var instanceId = query["instance_id"].ToString();

        using var received = await ReceivedBody.ReadAsync(context.Request, options.Value.MaxBodySize, cancellationToken);
        metrics.BytesReceived.Inc(received.Memory.Length);
        var meta = await ingest.StoreAsync("profefe", service, type, instanceId, labels, createdAt, received.Memory, cancellationToken);
        return ApiResults.Ok(json => ApiResults.WriteMeta(json, meta));
    }

    private static async Task<IResult> FindAsync(HttpContext context, IProfileReader reader, TimeProvider time, CancellationToken cancellationToken)
    {
        var found = await reader.FindAsync(ApiQuery.Find(context.Request.Query, time.GetUtcNow()), cancellationToken);
        if (found.Count == 0)
            throw ApiException.NothingFound();
        return ApiResults.Ok(json =>
        {
            json.WriteStartArray();
            foreach (var meta in found)
                ApiResults.WriteMeta(json, meta);
            json.WriteEndArray();
        });
    }

    private static async Task<IResult> MergeQueryAsync(HttpContext context, MergeService merger, TimeProvider time, CancellationToken cancellationToken)
    {
        var query = MergeQuery(context.Request.Query, time.GetUtcNow());
        // Go's sum unless asked: what profefe answers, and what its clients expect.
        var (merged, _) = await merger.MergeSelectionAsync(query, ApiQuery.Aggregation(context.Request.Query, Aggregation.Sum), cancellationToken);
        return Gzipped(merged, query.Type!.Value);
    }

    /// <summary>A find selection that must name a type that merges: 405 otherwise, as profefe answers.</summary>
    internal static ProfileQuery MergeQuery(IQueryCollection parameters, DateTimeOffset now)
    {
        var query = ApiQuery.Find(parameters, now);
        if (parameters["type"].ToString() == ProfileType.Trace.ToWire())
            throw new ApiException(StatusCodes.Status405MethodNotAllowed, "can't merge profiles of trace type");
        if (query.Type is null)
            throw new ApiException(StatusCodes.Status405MethodNotAllowed, "can't merge profiles of unknown type", ApiException.TypesHint(parameters["type"]));
        return query;
    }

    /// <summary>
    /// The other side of a comparison (a diff, what changed): the baseline's parameters with <c>cmp_from</c>,
    /// <c>cmp_to</c>, <c>cmp_labels</c> and <c>cmp_query</c> in place of theirs where given.
    /// </summary>
    internal static ProfileQuery ComparisonQuery(IQueryCollection parameters, DateTimeOffset now)
    {
        var comparison = new Dictionary<string, StringValues>(StringComparer.Ordinal);
        foreach (var (key, value) in parameters)
            comparison[key] = value;
        foreach (var name in (string[])["from", "to", "labels", "query"])
        {
            if (parameters.ContainsKey("cmp_" + name))
                comparison[name] = parameters["cmp_" + name];
        }

        return MergeQuery(new QueryCollection(comparison), now);
    }

    private static async Task<IResult> GetAsync(string ids, IProfileReader reader, MergeService merger, CancellationToken cancellationToken)
    {
        var parts = ids.Split('+');
        if (Array.Exists(parts, p => p.Length == 0))
            throw ApiException.BadRequest($"empty id in \"{ids}\": ids are joined by single '+' signs");

        if (parts.Length == 1)
        {
            if (!ProfileId.IsWellFormed(parts[0]))
                throw ApiException.NothingFound();
            await foreach (var body in reader.OpenAsync(parts, cancellationToken))
                return ApiResults.Download(body, parts[0]);
            throw ApiException.NothingFound();
        }

        foreach (var id in parts)
        {
            if (!ProfileId.IsWellFormed(id))
                throw ApiException.NothingFound($"no profile with id \"{id}\"");
        }

        var metas = await reader.GetAsync(parts, cancellationToken);
        var known = metas.Select(m => m.Id).ToHashSet(StringComparer.Ordinal);
        var unknown = Array.Find(parts, id => !known.Contains(id));
        if (unknown is not null)
            throw ApiException.NothingFound($"no profile with id \"{unknown}\"");

        var types = metas.Select(m => m.Type).Distinct().ToList();
        if (types.Count > 1)
            throw ApiException.BadRequest($"can't merge profiles of different types ({string.Join(", ", types.Select(t => t.ToWire()))})");
        if (types[0] == ProfileType.Trace)
            throw ApiException.BadRequest("can't merge profiles of trace type");

        return Gzipped(await merger.MergeMeasuredAsync(parts, cancellationToken), types[0]);
    }

    private static IResult Gzipped(Pprof.Proto.Profile merged, ProfileType type)
    {
        var buffer = new MemoryStream();
        ProfileEncoder.WriteGzip(merged, buffer);
        return ApiResults.Download(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), type.ToWire());
    }

    internal static ApiException BodyTooLarge(long maxBodySize) => new(StatusCodes.Status413RequestEntityTooLarge,
        $"request body too large: the limit is {maxBodySize} bytes (Collector:MaxBodySize)");
}
