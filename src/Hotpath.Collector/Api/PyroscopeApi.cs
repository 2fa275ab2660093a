using System.Globalization;
using System.Text;
using Hotpath.Collector.Hosting;
using Hotpath.Pprof;
using Hotpath.Pprof.Conversions;
using Hotpath.Service;
using Hotpath.Service.Ingest;
using Microsoft.Extensions.Options;

namespace Hotpath.Collector.Api;

/// <summary>
/// Pyroscope's HTTP ingest (<c>POST /ingest</c>, also under <c>/pyroscope</c>), as its SDKs send it:
/// <c>name=app[.type]{k=v,…}</c>, <c>from</c>/<c>until</c>, <c>format</c> (pprof as a raw or multipart body,
/// folded text, lines), <c>sampleRate</c>, <c>spyName</c>, <c>units</c>. The app is the service, the
/// braces the labels (with <c>pyroscope_spy</c> for <c>spyName</c>, as Pyroscope keeps it), the suffix the
/// type (none: from a pprof body's sample types, cpu for text). Success is an empty 200. And Pyroscope's
/// push (<c>/push.v1.PusherService/Push</c>), what Grafana Alloy's <c>pyroscope.write</c> sends.
/// </summary>
public static class PyroscopeApi
{
    private const string Protocol = "pyroscope";

    // Stores of one push in flight at once: enough to fill a commit batch, few enough to leave the decode budget to others.
    private const int ParallelStores = 32;

    public static IEndpointRouteBuilder MapPyroscopeApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/ingest", IngestAsync);
        app.MapPost("/pyroscope/ingest", IngestAsync);
        app.MapPost("/push.v1.PusherService/Push", PushAsync).WithMetadata(ConnectEndpoint.Instance);
        return app;
    }

    /// <summary>
    /// Pyroscope's push (Connect, unary, over HTTP/1.1; <c>application/proto</c> or <c>application/json</c>):
    /// series of labels and raw pprof samples. <c>service_name</c> (else <c>__name__</c>) is the service,
    /// <c>__name__</c> the type when it names one (<c>process_cpu</c>, <c>memory</c>, …; else from the sample
    /// types), the other labels but Pyroscope's own (<c>__…__</c>) are kept. Every sample is checked before
    /// any is stored, so that a refused request stores nothing and its retry duplicates nothing. Errors are
    /// Connect's: a status and <c>{"code","message"}</c>.
    /// </summary>
    private static async Task<IResult> PushAsync(
        HttpContext context, IngestService ingest, RecentSamples recent, RequestTenant tenant, CollectorMetrics metrics, IOptions<CollectorOptions> options,
        DecodeBudget budget, CancellationToken cancellationToken)
    {
        try
        {
            var json = ConnectUnary.IsJson(context.Request);
            Pprof.Pyroscope.PushRequest request;
            // Held until the request is answered: the inflated body and the message tree parsed from it.
            using var received = await ReceivedBody.ReadDecodedAsync(context.Request, options.Value.MaxBodySize, options.Value.MaxDecompressedSize,
                "Collector:MaxDecompressedSize", budget, cancellationToken);
            received.Reserve(budget, ConnectUnary.ParsedSize(received.Memory.Length, json));
            try
            {
                request = json
                    ? Pprof.Pyroscope.PushRequest.Parser.ParseJson(Encoding.UTF8.GetString(received.Memory.Span))
                    : Pprof.Pyroscope.PushRequest.Parser.ParseFrom(received.Memory.Span);
            }
            catch (Exception e) when (e is Google.Protobuf.InvalidProtocolBufferException or Google.Protobuf.InvalidJsonException or FormatException)
            {
                throw ApiException.BadRequest($"not a push request: {e.Message}");
            }

            var profiles = new List<(string Service, ProfileType? Type, IReadOnlyList<ProfileLabel> Labels, ReadOnlyMemory<byte> Body, string Key)>();
            foreach (var series in request.Series)
            {
                var (service, type, labels) = Series(series);
                foreach (var sample in series.Samples)
                {
                    var body = sample.RawProfile.Memory;
                    ingest.Check(service, body);
                    profiles.Add((service, type, labels, body, RecentSamples.Key(tenant.Name, service, labels, sample.ID, body.Span)));
                }
            }

            // Stored side by side, so that the write pipeline commits them in a few batches rather than one by one;
            // a sample this collector stored lately (the client's retry) is not stored again.
            await Parallel.ForEachAsync(profiles, new ParallelOptions { MaxDegreeOfParallelism = ParallelStores, CancellationToken = cancellationToken },
                async (profile, ct) =>
                {
                    metrics.BytesReceived.Inc(profile.Body.Length);
                    await recent.StoreOnceAsync(profile.Key, () =>
                        ingest.StoreAsync(Protocol, profile.Service, profile.Type, "", profile.Labels, null, profile.Body, ct));
                });

            return json ? Results.Text("{}", "application/json") : Results.Bytes([], "application/proto");
        }
        catch (Exception e) when (ApiException.Of(e) is { } refusal)
        {
            return ConnectUnary.Error(context, refusal);
        }
    }

    private static (string Service, ProfileType? Type, IReadOnlyList<ProfileLabel> Labels) Series(Pprof.Pyroscope.RawProfileSeries series)
    {
        string? service = null;
        string? name = null;
        var labels = new List<ProfileLabel>();
        foreach (var pair in series.Labels)
        {
            if (pair.Name == "service_name")
                service = pair.Value;
            else if (pair.Name == "__name__")
                name = pair.Value;
            else if (!(pair.Name.StartsWith("__", StringComparison.Ordinal) && pair.Name.EndsWith("__", StringComparison.Ordinal)) && pair.Name.Length > 0)
                labels.Add(new ProfileLabel(pair.Name, pair.Value));
        }

        ProfileType? type = name is not null && PyroscopeTypes.TryParseName(name, out var parsed) ? parsed : null;
        service ??= type is null ? name : null;
        if (string.IsNullOrEmpty(service))
            throw ApiException.BadRequest("a series without a \"service_name\" label");
        return (service, type, LabelLimits.Sorted(labels, "labels"));
    }

    private static async Task<IResult> IngestAsync(
        HttpContext context, IngestService ingest, CollectorMetrics metrics, IOptions<CollectorOptions> options, DecodeBudget budget, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var query = context.Request.Query;
        var (service, suffixType, suffix, labels) = ParseName(query["name"].ToString());
        var spy = query["spyName"].ToString();
        if (spy.Length > 0)
            labels = LabelLimits.Sorted([.. labels, new ProfileLabel("pyroscope_spy", spy)], "name");
        var from = Time(query, "from") ?? UnixNanos.From(time.GetUtcNow());
        var format = query["format"].ToString();

        ReceivedBody? received = null;
        try
        {
            ReadOnlyMemory<byte> body;
            switch (format)
            {
                case "pprof" when context.Request.HasFormContentType:
                    body = await FormProfileAsync(context.Request, options.Value.MaxBodySize, cancellationToken);
                    break;
                case "pprof":
                    received = await ReceivedBody.ReadAsync(context.Request, options.Value.MaxBodySize, cancellationToken);
                    body = received.Memory;
                    break;
                case "" or "folded" or "groups" or "lines":
                    received = await ReceivedBody.ReadAsync(context.Request, options.Value.MaxBodySize, cancellationToken);
                    body = Folded(received.Memory, suffix, suffixType, query, countsPerLine: format != "lines", budget);
                    suffixType ??= ProfileType.Cpu;
                    break;
                case "jfr":
                    throw new ApiException(StatusCodes.Status415UnsupportedMediaType,
                        "format=jfr is not supported: Hotpath cannot convert Java Flight Recorder recordings faithfully yet; send pprof (the Java agent's pprof output) instead");
                default:
                    throw new ApiException(StatusCodes.Status415UnsupportedMediaType, $"format \"{format}\" is not supported: pprof, folded or lines");
            }

            metrics.BytesReceived.Inc(body.Length);
            await ingest.StoreAsync(Protocol, service, suffixType, "", labels, from, body, cancellationToken);
            return Results.Ok();
        }
        catch (MalformedProfileException e)
        {
            throw ApiException.Of(e, StatusCodes.Status422UnprocessableEntity)!; // Pyroscope's status for a body that is not a profile
        }
        finally
        {
            received?.Dispose();
        }
    }

    /// <summary><c>app[.suffix]{k=v,…}</c>: the suffix is a type only when Pyroscope names one that way (an app's name may hold dots).</summary>
    internal static (string Service, ProfileType? Type, string Suffix, IReadOnlyList<ProfileLabel> Labels) ParseName(string name)
    {
        if (name.Length == 0)
            throw ApiException.BadRequest("missing \"name\": app.type{key=value,...}");
        var brace = name.IndexOf('{', StringComparison.Ordinal);
        var head = (brace < 0 ? name : name[..brace]).Trim();
        var labels = new List<ProfileLabel>();
        if (brace >= 0)
        {
            if (!name.EndsWith('}'))
                throw ApiException.BadRequest($"bad \"name\" \"{name}\": the labels must end with '}}'");
            foreach (var pair in name[(brace + 1)..^1].Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                var key = (eq < 0 ? pair : pair[..eq]).Trim();
                if (key.Length == 0 || key == "__name__")
                    continue;
                labels.Add(new ProfileLabel(key, eq < 0 ? "" : pair[(eq + 1)..].Trim()));
            }
        }

        var dot = head.LastIndexOf('.');
        var suffix = dot < 0 ? "" : head[(dot + 1)..];
        ProfileType? type = PyroscopeTypes.TryParseSuffix(suffix, out var parsed) ? parsed : null;
        var service = type is null ? head : head[..dot];
        if (type is null)
            suffix = "";
        if (service.Length == 0)
            throw ApiException.BadRequest($"bad \"name\" \"{name}\": no application name");
        return (service, type, suffix, LabelLimits.Sorted(labels, "name"));
    }

    /// <summary>
    /// A Unix time as Pyroscope's clients send it, in seconds, milliseconds, microseconds or nanoseconds (told
    /// apart by size, as Pyroscope does), or null when absent.
    /// </summary>
    internal static long? Time(IQueryCollection query, string name)
    {
        var text = query[name].ToString();
        if (text.Length == 0)
            return null;
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            throw ApiException.BadRequest($"bad \"{name}\" \"{text}\": a Unix time in seconds, milliseconds, microseconds or nanoseconds");
        var scale = value switch
        {
            < 10_000_000_000 => 1_000_000_000,
            < 10_000_000_000_000 => 1_000_000,
            < 10_000_000_000_000_000 => 1_000,
            _ => 1L,
        };
        return value <= long.MaxValue / scale
            ? value * scale
            : throw ApiException.BadRequest($"bad \"{name}\" \"{text}\": past what nanoseconds since 1970 can hold");
    }

    /// <summary>A pprof body as the <c>profile</c> field of a multipart form (what the Go SDK sends).</summary>
    private static async Task<ReadOnlyMemory<byte>> FormProfileAsync(HttpRequest request, long maxBodySize, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBodySize)
            throw ProfilesApi.BodyTooLarge(maxBodySize);
        IFormCollection form;
        try
        {
            form = await request.ReadFormAsync(cancellationToken);
        }
        catch (InvalidDataException e)
        {
            throw ApiException.BadRequest($"malformed multipart body: {e.Message}");
        }

        var file = form.Files["profile"] ?? throw ApiException.BadRequest("multipart body without a \"profile\" field");
        using var buffer = new MemoryStream((int)file.Length);
        await file.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }

    /// <summary>Folded text as pprof: cpu and wall are sampled at <c>sampleRate</c> (100 Hz by default), the rest counted as sent.</summary>
    /// <remarks>
    /// Bounded as a pprof decode is: the text, the profile built from it and its encoding are reserved against
    /// the decode budget as they grow (413 past Collector:MaxDecodeMemory, 503 busy past the shared budget). Text
    /// that is not folded stacks throws <see cref="MalformedProfileException"/>, which the endpoint answers 422.
    /// </remarks>
    private static byte[] Folded(ReadOnlyMemory<byte> body, string suffix, ProfileType? type, IQueryCollection query, bool countsPerLine, DecodeBudget budget)
    {
        var rateText = query["sampleRate"].ToString();
        var rate = 100L;
        if (rateText.Length > 0 && (!long.TryParse(rateText, NumberStyles.None, CultureInfo.InvariantCulture, out rate) || rate is < 1 or > 1_000_000_000))
            throw ApiException.BadRequest($"bad \"sampleRate\" \"{rateText}\": samples a second, 1 or more");
        var sampled = type is null or ProfileType.Cpu or ProfileType.Wall;
        var sampleType = type == ProfileType.Wall ? "wall" : sampled ? "cpu" : suffix;
        var units = query["units"].ToString();
        try
        {
            using var memory = budget.Reserve(2L * body.Length); // the text, as UTF-16
            string text;
            try
            {
                text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(body.Span);
            }
            catch (DecoderFallbackException)
            {
                throw new ApiException(StatusCodes.Status422UnprocessableEntity, "malformed profile (folded text that is not UTF-8)");
            }

            var profile = FoldedProfile.Parse(text, sampleType, units.Length > 0 ? units : PyroscopeTypes.DefaultUnit(suffix), sampled ? 1_000_000_000 / rate : 0,
                countsPerLine, memory);
            memory.Grow(2L * profile.CalculateSize()); // the encoded bytes and their gzip
            return ProfileEncoder.ToGzipBytes(profile);
        }
        catch (OverflowException)
        {
            throw new ApiException(StatusCodes.Status422UnprocessableEntity, "malformed profile (a count overflows)");
        }
    }
}
