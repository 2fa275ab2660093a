using Hotpath.Collector.Hosting;
using Hotpath.Collector.Merging;
using Hotpath.Pprof;
using Hotpath.Storage;
using Microsoft.Extensions.Options;

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
        HttpContext context, IProfileWriter writer, ProfileDecoder decoder, RawProfilePool decoded, CollectorMetrics metrics,
        IOptions<CollectorOptions> options, TimeProvider time, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var query = context.Request.Query;
        var service = ApiQuery.RequiredString(query, "service");
        if (!ProfileTypes.TryParse(query["type"], out var type))
            throw ApiException.UnknownType(query["type"]);
        var labels = ApiQuery.Labels(query);
        var createdAtParameter = ApiQuery.CreatedAt(query);
        var instanceId = query["instance_id"].ToString();

        using var received = await ReceivedBody.ReadAsync(context.Request, options.Value.MaxBodySize, cancellationToken);
        var body = received.Memory;
        metrics.BytesReceived.Inc(body.Length);

        var createdAt = createdAtParameter ?? UnixNanos.From(time.GetUtcNow());
        long value = 0;
        // Decoded once, here: the store may fold it into its pre-merged pieces instead of decoding it again.
        var profile = type == ProfileType.Trace ? null : decoded.Rent();
        try
        {
            if (profile is not null)
            {
                Validate(profile);
                if (profile.TimeNanos != 0)
                    createdAt = profile.TimeNanos;
                value = profile.Total(profile.DefaultSampleTypeIndex());
            }

            var meta = await writer.WriteAsync(new NewProfile(service, type, instanceId, labels, createdAt, value) { Decoded = profile }, body, cancellationToken);
            metrics.ProfilesWritten.WithLabels(type.ToWire()).Inc();
            return ApiResults.Ok(json => ApiResults.WriteMeta(json, meta));
        }
        finally
        {
            if (profile is not null)
                decoded.Return(profile);
        }

        // Traces are stored as received; everything else must be a valid pprof profile.
        void Validate(RawProfile profile)
        {
            try
            {
                decoder.Load(body, profile);
            }
            catch (MalformedProfileException e)
            {
                Log.ProfileRejected(loggers.CreateLogger(typeof(ProfilesApi)), service, e.Message);
                throw new ApiException(StatusCodes.Status400BadRequest, $"malformed profile ({e.Message})");
            }
            catch (ProfileTooLargeException e)
            {
                Log.ProfileRejected(loggers.CreateLogger(typeof(ProfilesApi)), service, e.Message);
                throw new ApiException(StatusCodes.Status413RequestEntityTooLarge, e.Limit == ProfileLimit.DecompressedSize
                    ? $"profile too large: it inflates past the decompressed size limit of {e.LimitBytes} bytes (Collector:MaxDecompressedSize)"
                    : $"profile too large: decoding it takes more than the limit of {e.LimitBytes} bytes of memory (Collector:MaxDecodeMemory)");
            }
        }
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

    private static async Task<IResult> MergeQueryAsync(HttpContext context, ProfileMergeService merger, TimeProvider time, CancellationToken cancellationToken)
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

    private static async Task<IResult> GetAsync(string ids, IProfileReader reader, ProfileMergeService merger, CancellationToken cancellationToken)
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
