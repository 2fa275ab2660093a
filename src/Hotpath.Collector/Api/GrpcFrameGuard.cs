using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Hotpath.Collector.Api;

/// <summary>
/// Checks the one message of a call to OTLP's gRPC export before gRPC reads it: a compressed flag without a
/// compression named, a declared length past the limit, or fewer bytes than declared each get a status naming
/// the fault, as OTLP/HTTP's 400 or 413 do, where gRPC's own reading answers UNKNOWN or INTERNAL and logs an
/// error. A well-framed message goes on to gRPC untouched (nothing of it is consumed here).
/// </summary>
public sealed class GrpcFrameGuard(RequestDelegate next, IOptions<GrpcServiceOptions> grpc)
{
    private const int HeaderLength = 5;

    public async Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!context.Request.Path.Equals(OtlpProfilesGrpcService.ExportPath, StringComparison.Ordinal) || !HttpMethods.IsPost(context.Request.Method))
        {
            await next(context);
            return;
        }

        var reader = context.Request.BodyReader;
        var read = await reader.ReadAtLeastAsync(HeaderLength, context.RequestAborted);
        if (read.Buffer.Length < HeaderLength)
        {
            reader.AdvanceTo(read.Buffer.Start);
            await next(context); // no message at all: gRPC says so
            return;
        }

        Span<byte> header = stackalloc byte[HeaderLength];
        read.Buffer.Slice(0, HeaderLength).CopyTo(header);
        reader.AdvanceTo(read.Buffer.Start);
        var compressed = header[0];
        var length = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        var encoding = context.Request.Headers["grpc-encoding"].ToString();
        var max = grpc.Value.MaxReceiveMessageSize ?? int.MaxValue;
        if (compressed > 1)
        {
            await RefuseAsync(context, StatusCode.InvalidArgument, $"the message's compressed flag is {compressed}: 0 or 1");
        }
        else if (compressed == 1 && (encoding.Length == 0 || encoding.Equals("identity", StringComparison.OrdinalIgnoreCase)))
        {
            await RefuseAsync(context, StatusCode.InvalidArgument, "the message is flagged compressed but the call names no grpc-encoding");
        }
        else if (length > max)
        {
            await RefuseAsync(context, StatusCode.ResourceExhausted,
                $"the message declares {length} bytes, more than the limit of {max} ({OtlpApi.SizeSettings})");
        }
        else
        {
            var whole = await reader.ReadAtLeastAsync(HeaderLength + (int)length, context.RequestAborted);
            var received = whole.Buffer.Length;
            reader.AdvanceTo(whole.Buffer.Start);
            if (received < HeaderLength + length)
                await RefuseAsync(context, StatusCode.InvalidArgument, $"truncated message: {received - HeaderLength} of the {length} bytes it declares");
            else
                await next(context);
        }
    }

    /// <summary>A trailers-only gRPC response: the status in the headers, no message.</summary>
    private static Task RefuseAsync(HttpContext context, StatusCode code, string message)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/grpc";
        context.Response.Headers["grpc-status"] = ((int)code).ToString(CultureInfo.InvariantCulture);
        context.Response.Headers["grpc-message"] = Uri.EscapeDataString(message);
        return Task.CompletedTask;
    }
}
