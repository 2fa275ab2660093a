using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Hotpath.Collector.Api.Otlp;
using Hotpath.Collector.Hosting;
using Hotpath.Pprof;
using Hotpath.Service.Ingest;
using Microsoft.Extensions.Options;
using RpcStatus = Google.Rpc.Status;

namespace Hotpath.Collector.Api;

/// <summary>
/// OpenTelemetry profiles (OTLP <c>profiles/v1development</c>, Alpha): <c>POST /v1development/profiles</c>
/// over HTTP (protobuf or JSON, gzip or not) here, and the gRPC <c>ProfilesService/Export</c> on its own
/// port (<see cref="OtlpProfilesGrpcService"/>). Both take the same request to <see cref="OtlpIngest"/>.
/// Errors are OTLP's: an HTTP status with a <c>google.rpc.Status</c> body in the request's encoding.
/// </summary>
public static class OtlpApi
{
    private const string ProtobufType = "application/x-protobuf";
    private const string JsonType = "application/json";

    // OTLP receivers must ignore fields they do not know, so that newer senders still get through.
    private static readonly JsonParser Json = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    /// <summary>The settings that bound a request's size, for the 413 that names them.</summary>
    public const string SizeSettings = "Collector:MaxDecodeMemory / 96, at most Collector:MaxDecompressedSize";

    /// <summary>
    /// Largest request, encoded (after inflating), so that its parsed tree stays within one profile's decode
    /// memory: 2.7 MiB with the defaults.
    /// </summary>
    public static long MaxRequestSize(CollectorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Math.Min(options.MaxDecompressedSize, options.MaxDecodeMemory / OtlpIngest.ParsedBytesPerByte);
    }

    /// <summary>The refusal an exception of an export stands for, in OTLP's words; null for a fault of Hotpath's own (a 500).</summary>
    internal static ApiException? Refusal(Exception e) => e is ProfileTooLargeException large
        ? new ApiException(StatusCodes.Status413RequestEntityTooLarge,
            $"request too large: its profiles take more than the limit of {large.LimitBytes} bytes of memory (Collector:MaxDecodeMemory)")
        : ApiException.Of(e);

    public static IEndpointRouteBuilder MapOtlpApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1development/profiles", ExportAsync);
        return app;
    }

    private static async Task<IResult> ExportAsync(HttpContext context, OtlpIngest otlp, CollectorMetrics metrics, IOptions<CollectorOptions> options,
        DecodeBudget budget, CancellationToken cancellationToken)
    {
        var contentType = context.Request.ContentType ?? "";
        var json = contentType.StartsWith(JsonType, StringComparison.OrdinalIgnoreCase);
        try
        {
            if (!json && !contentType.StartsWith(ProtobufType, StringComparison.OrdinalIgnoreCase))
                throw new ApiException(StatusCodes.Status415UnsupportedMediaType, $"content type \"{contentType}\": {ProtobufType} or {JsonType}");
            ExportProfilesServiceRequest request;
            // Held until the export is answered: the inflated body, then the message tree, reserved before it is parsed.
            using var received = await ReceivedBody.ReadDecodedAsync(context.Request, options.Value.MaxBodySize, MaxRequestSize(options.Value), SizeSettings,
                budget, cancellationToken);
            long size = received.Memory.Length;
            received.Reserve(budget, OtlpIngest.ParsedSize(size));
            try
            {
                request = json
                    ? Json.Parse<ExportProfilesServiceRequest>(Encoding.UTF8.GetString(received.Memory.Span))
                    : ExportProfilesServiceRequest.Parser.ParseFrom(received.Memory.Span);
            }
            catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException or FormatException)
            {
                throw ApiException.BadRequest($"not an OTLP profiles export request: {e.Message}");
            }

            metrics.BytesReceived.Inc(size);
            await otlp.ExportAsync(request.ResourceProfiles, request.Dictionary, cancellationToken);
            var response = new ExportProfilesServiceResponse();
            return json
                ? Results.Text(JsonFormatter.Default.Format(response), JsonType)
                : Results.Bytes(response.ToByteArray(), ProtobufType);
        }
        catch (Exception e) when (Refusal(e) is { } refusal)
        {
            if (refusal.Status == StatusCodes.Status503ServiceUnavailable)
                context.Response.Headers.RetryAfter = "1";
            var status = new RpcStatus { Code = (int)GrpcStatus.FromHttp(refusal.Status), Message = refusal.Message };
            if (json)
                return Results.Text(JsonFormatter.Default.Format(status), JsonType, statusCode: refusal.Status);
            context.Response.StatusCode = refusal.Status;
            context.Response.ContentType = ProtobufType;
            await context.Response.Body.WriteAsync(status.ToByteArray(), cancellationToken);
            return Results.Empty;
        }
    }
}

/// <summary>gRPC's status codes for the API's HTTP statuses, as gRPC itself maps them.</summary>
public static class GrpcStatus
{
    public static StatusCode FromHttp(int status) => status switch
    {
        StatusCodes.Status400BadRequest or StatusCodes.Status415UnsupportedMediaType => StatusCode.InvalidArgument,
        StatusCodes.Status401Unauthorized => StatusCode.Unauthenticated,
        StatusCodes.Status403Forbidden => StatusCode.PermissionDenied,
        StatusCodes.Status404NotFound => StatusCode.Unimplemented,
        StatusCodes.Status413RequestEntityTooLarge => StatusCode.ResourceExhausted,
        StatusCodes.Status503ServiceUnavailable => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };

    /// <summary>True for a gRPC request, whose errors travel as grpc-status rather than as an HTTP status.</summary>
    public static bool IsGrpc(HttpRequest request) =>
        request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true;
}
