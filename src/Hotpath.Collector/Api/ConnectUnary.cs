using System.IO.Compression;
using System.Text;
using Google.Protobuf;
using Hotpath.Pprof;

namespace Hotpath.Collector.Api;

/// <summary>
/// Connect's unary protocol over HTTP (connectrpc.com/docs/protocol): a POST whose body is one message,
/// binary protobuf (<c>application/proto</c>) or protobuf JSON (<c>application/json</c>), gzipped when
/// Content-Encoding says so; the answer in the same codec, gzipped when the client accepts it; errors as a
/// status and <c>{"code","message"}</c>. Pyroscope's push and query services speak it.
/// </summary>
public static class ConnectUnary
{
    // Answers smaller than this are sent as they are: gzip's header and the time would cost more than they save.
    private const int CompressAbove = 1024;

    // A parsed message takes up to this many bytes per encoded byte. Protobuf: a run of empty label pairs is
    // an object and a list slot (40 bytes) for two. JSON: its text as UTF-16, the parser's growing buffers for a
    // long string and the tree (a 60 MiB label value took 15 bytes a byte).
    private const int ParsedBytesPerByte = 24;
    private const int JsonParsedBytesPerByte = 16;

    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    /// <summary>What a message of <paramref name="encodedBytes"/> may take once parsed, to reserve against the decode budget first.</summary>
    public static long ParsedSize(int encodedBytes, bool json) => (json ? JsonParsedBytesPerByte : ParsedBytesPerByte) * (long)encodedBytes;

    /// <summary>True for a JSON request, false for binary; anything else is a 415.</summary>
    public static bool IsJson(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var type = request.ContentType;
        if (type?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) == true)
            return true;
        if (type?.StartsWith("application/proto", StringComparison.OrdinalIgnoreCase) == true)
            return false;
        throw new ApiException(StatusCodes.Status415UnsupportedMediaType, $"content type \"{type}\": application/proto or application/json");
    }

    /// <summary>
    /// Reads one message of a request (inflated, and its parsed tree reserved, against the decode budget as every
    /// body is); unknown fields are skipped, as a newer client's are.
    /// </summary>
    public static async Task<T> ReadAsync<T>(HttpContext context, MessageParser<T> parser, long maxBodySize, long maxDecodedSize, DecodeBudget budget,
        CancellationToken cancellationToken)
        where T : IMessage<T>, new()
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(parser);
        var json = IsJson(context.Request);
        using var received = await ReceivedBody.ReadDecodedAsync(context.Request, maxBodySize, maxDecodedSize, "Collector:MaxDecompressedSize", budget,
            cancellationToken);
        // Held until the message is parsed: its tree is bounded like a profile's decode.
        received.Reserve(budget, ParsedSize(received.Memory.Length, json));
        try
        {
            return json ? Parser.Parse<T>(Encoding.UTF8.GetString(received.Memory.Span)) : parser.ParseFrom(received.Memory.Span);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException or FormatException)
        {
            throw ApiException.BadRequest($"not a {typeof(T).Name}: {e.Message}");
        }
    }

    /// <summary>The answer: the message in the request's codec, gzipped when the client accepts gzip and it is worth it.</summary>
    public static IResult Reply(HttpContext context, IMessage message)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(message);
        var json = IsJson(context.Request);
        var bytes = json ? Encoding.UTF8.GetBytes(JsonFormatter.Default.Format(message)) : message.ToByteArray();
        var type = json ? "application/json" : "application/proto";
        if (bytes.Length > CompressAbove && context.Request.Headers.AcceptEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase))
        {
            using var compressed = new MemoryStream();
            using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
                gzip.Write(bytes);
            context.Response.Headers.ContentEncoding = "gzip";
            return Results.Bytes(compressed.ToArray(), type);
        }

        return Results.Bytes(bytes, type);
    }

    /// <summary>A Connect error: the status, and its code by Connect's mapping of HTTP statuses.</summary>
    public static IResult Error(HttpContext context, ApiException refusal)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(refusal);
        if (refusal.Status == StatusCodes.Status503ServiceUnavailable)
            context.Response.Headers.RetryAfter = "1";
        if (refusal.Status == StatusCodes.Status401Unauthorized)
            context.Response.Headers.WWWAuthenticate = "Bearer";
        var code = refusal.Status switch
        {
            StatusCodes.Status400BadRequest => "invalid_argument",
            StatusCodes.Status401Unauthorized => "unauthenticated",
            StatusCodes.Status403Forbidden => "permission_denied",
            StatusCodes.Status404NotFound => "not_found",
            StatusCodes.Status413RequestEntityTooLarge => "resource_exhausted",
            StatusCodes.Status415UnsupportedMediaType => "internal",
            StatusCodes.Status501NotImplemented => "unimplemented",
            StatusCodes.Status503ServiceUnavailable => "unavailable",
            _ => "unknown",
        };
        return Results.Json(new ConnectErrorBody(code, refusal.Message), ConnectJson.Default.ConnectErrorBody, statusCode: refusal.Status);
    }
}

/// <summary>Endpoint metadata of a Connect route: whatever refuses its requests (the token check too) answers in Connect's shape.</summary>
public sealed class ConnectEndpoint
{
    public static ConnectEndpoint Instance { get; } = new();

    private ConnectEndpoint() { }
}

/// <summary>The body of a Connect error.</summary>
public sealed record ConnectErrorBody(string Code, string Message);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(ConnectErrorBody))]
internal sealed partial class ConnectJson : System.Text.Json.Serialization.JsonSerializerContext;
