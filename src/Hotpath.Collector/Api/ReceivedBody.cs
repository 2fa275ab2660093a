using System.Buffers;
using System.IO.Compression;
using Hotpath.Pprof;

namespace Hotpath.Collector.Api;

/// <summary>
/// A request body read whole into a pooled buffer, returned to the pool on dispose: ingest allocates no
/// body-sized array per request. Kestrel's MaxRequestBodySize bounds a body without Content-Length.
/// </summary>
public sealed class ReceivedBody : IDisposable
{
    // Larger bodies are rare; renting them would let the pool keep big arrays alive.
    private const int PooledLimit = 1024 * 1024;

    private byte[]? _buffer;
    private DecodeReservation? _memory;

    private ReceivedBody(byte[] buffer, int length, bool pooled, DecodeReservation? memory = null)
    {
        _buffer = pooled ? buffer : null;
        _memory = memory;
        Memory = buffer.AsMemory(0, length);
    }

    public ReadOnlyMemory<byte> Memory { get; }

    public static async Task<ReceivedBody> ReadAsync(HttpRequest request, long maxBodySize, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBodySize)
            throw ProfilesApi.BodyTooLarge(maxBodySize);

        if (request.ContentLength is { } length)
        {
            var pooled = length <= PooledLimit;
            var buffer = pooled ? ArrayPool<byte>.Shared.Rent((int)length) : new byte[length];
            try
            {
                await request.Body.ReadExactlyAsync(buffer.AsMemory(0, (int)length), cancellationToken);
            }
            catch
            {
                if (pooled)
                    ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }

            return new ReceivedBody(buffer, (int)length, pooled);
        }

        var writer = new ArrayBufferWriter<byte>(64 * 1024);
        while (true)
        {
            var read = await request.Body.ReadAsync(writer.GetMemory(64 * 1024), cancellationToken);
            if (read == 0)
                return new ReceivedBody(writer.WrittenSpan.ToArray(), writer.WrittenCount, pooled: false);
            writer.Advance(read);
        }
    }

    /// <summary>
    /// The body as its Content-Encoding says (identity or gzip, what OTLP exporters and Connect clients send),
    /// inflated to at most <paramref name="maxDecodedSize"/> bytes. What it inflates to is reserved against the
    /// decode budget as the buffer grows, and held until the body is disposed: a burst of gzip bombs is
    /// bounded like pprof decodes (503 busy past the shared budget) and its garbage collected after.
    /// </summary>
    public static async Task<ReceivedBody> ReadDecodedAsync(HttpRequest request, long maxBodySize, long maxDecodedSize, string sizeSetting, DecodeBudget budget,
        CancellationToken cancellationToken)
    {
        var encoding = request.Headers.ContentEncoding.ToString();
        var gzip = encoding.Equals("gzip", StringComparison.OrdinalIgnoreCase);
        if (!gzip && encoding.Length > 0 && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
            throw new ApiException(StatusCodes.Status415UnsupportedMediaType, $"content encoding \"{encoding}\" is not supported: gzip or none");
        var received = await ReadAsync(request, maxBodySize, cancellationToken);
        if (!gzip)
        {
            if (received.Memory.Length <= maxDecodedSize)
                return received;
            received.Dispose();
            throw TooLarge(maxDecodedSize, sizeSetting);
        }

        using (received)
        {
            var memory = budget.Reserve(0);
            try
            {
                // The body is always array-backed (rented or allocated here).
                System.Runtime.InteropServices.MemoryMarshal.TryGetArray(received.Memory, out var compressed);
                using var stream = new GZipStream(new MemoryStream(compressed.Array!, compressed.Offset, compressed.Count, writable: false), CompressionMode.Decompress);
                var inflated = new byte[64 * 1024];
                memory.Grow(inflated.Length);
                var length = 0;
                int read;
                while ((read = await stream.ReadAsync(inflated.AsMemory(length), cancellationToken)) > 0)
                {
                    length += read;
                    if (length > maxDecodedSize)
                        throw TooLarge(maxDecodedSize, sizeSetting);
                    if (length == inflated.Length)
                    {
                        // Doubling, reserved first (the old buffer is garbage once copied, and counts until collected).
                        var grown = (int)Math.Min(Array.MaxLength, Math.Min(2L * inflated.Length, maxDecodedSize + 1));
                        memory.Grow(grown);
                        Array.Resize(ref inflated, grown);
                    }
                }

                return new ReceivedBody(inflated, length, pooled: false, memory);
            }
            catch (InvalidDataException e)
            {
                memory.Dispose();
                throw ApiException.BadRequest($"bad gzip body: {e.Message}");
            }
            catch
            {
                memory.Dispose();
                throw;
            }
        }
    }

    /// <summary>Reserves more of the decode budget with this body (a message tree parsed from it), given back with it.</summary>
    public void Reserve(DecodeBudget budget, long bytes)
    {
        _memory ??= budget.Reserve(0);
        _memory.Grow(bytes);
    }

    private static ApiException TooLarge(long maxDecodedSize, string sizeSetting) => new(StatusCodes.Status413RequestEntityTooLarge,
        $"request body too large: it inflates past the limit of {maxDecodedSize} bytes ({sizeSetting})");

    public void Dispose()
    {
        if (_buffer is not null)
            ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
        _memory?.Dispose();
        _memory = null;
    }
}
