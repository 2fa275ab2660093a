using System.Buffers;

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

    private ReceivedBody(byte[] buffer, int length, bool pooled)
    {
        _buffer = pooled ? buffer : null;
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

    public void Dispose()
    {
        if (_buffer is not null)
            ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
    }
}
