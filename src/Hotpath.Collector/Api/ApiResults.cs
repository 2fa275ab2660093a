using System.Buffers;
using System.Text.Json;
using Hotpath.Pprof;
using Hotpath.Storage;

namespace Hotpath.Collector.Api;

/// <summary>The profefe envelope: {"code":N,"body":…} on success, {"code":N,"error":"…"} on failure, always application/json.</summary>
public static class ApiResults
{
    public static IResult Ok(Action<Utf8JsonWriter> writeBody) => new EnvelopeResult(StatusCodes.Status200OK, writeBody, null, null);

    public static IResult Error(int status, string message, string? hint = null) => new EnvelopeResult(status, null, message, hint);

    public static Task WriteErrorAsync(HttpContext context, int status, string message, string? hint = null) =>
        Error(status, message, hint).ExecuteAsync(context);

    /// <summary>Bytes as a download: the stored profile, or a merge.</summary>
    public static IResult Download(ReadOnlyMemory<byte> bytes, string fileName) => new DownloadResult(bytes, fileName);

    public static void WriteMeta(Utf8JsonWriter json, ProfileMeta meta)
    {
        json.WriteStartObject();
        json.WriteString("id", meta.Id);
        json.WriteString("type", meta.Type.ToWire());
        json.WriteString("service", meta.Service);
        if (meta.InstanceId.Length > 0)
            json.WriteString("instance_id", meta.InstanceId);
        if (meta.Labels.Count > 0)
        {
            json.WriteStartArray("labels");
            foreach (var label in meta.Labels)
            {
                json.WriteStartObject();
                json.WriteString("key", label.Key);
                json.WriteString("value", label.Value);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        json.WriteString("created_at", FormatCreatedAt(meta.CreatedAtUnixNanos));
        if (meta.StoredIn is { } stores)
        {
            // Written to several engines: which of them have it (all, unless one was unavailable).
            json.WriteStartArray("stores");
            foreach (var store in stores)
                json.WriteStringValue(store);
            json.WriteEndArray();
        }

        json.WriteEndObject();
    }

    /// <summary>RFC 3339 in UTC, truncated (not rounded) to whole seconds.</summary>
    public static string FormatCreatedAt(long unixNanos)
    {
        var seconds = Math.DivRem(unixNanos, 1_000_000_000L, out var rest);
        if (rest < 0)
            seconds--; // floor, so that times before 1970 truncate downwards too
        return ProfileTime.FormatSeconds(DateTimeOffset.FromUnixTimeSeconds(seconds));
    }

    private sealed class EnvelopeResult(int status, Action<Utf8JsonWriter>? writeBody, string? error, string? hint) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            // The whole reply is written first, then sent: a body that fails half-way must still be able to
            // become an error envelope, which a response already started cannot.
            var buffer = new ArrayBufferWriter<byte>(256);
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteNumber("code", status);
                if (writeBody is not null)
                {
                    json.WritePropertyName("body");
                    writeBody(json);
                }

                if (error is not null)
                    json.WriteString("error", error);
                if (hint is not null)
                    json.WriteString("hint", hint);
                json.WriteEndObject();
            }

            var response = httpContext.Response;
            response.StatusCode = status;
            response.ContentType = "application/json";
            response.ContentLength = buffer.WrittenCount;
            await response.Body.WriteAsync(buffer.WrittenMemory, httpContext.RequestAborted);
        }
    }

    private sealed class DownloadResult(ReadOnlyMemory<byte> bytes, string fileName) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            var response = httpContext.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/octet-stream";
            response.ContentLength = bytes.Length;
            response.Headers.ContentDisposition = $"attachment; filename=\"{fileName}\"";
            await response.Body.WriteAsync(bytes, httpContext.RequestAborted);
        }
    }
}
