using System.IO.Compression;
using Google.Protobuf;
using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof;

/// <summary>
/// Turns received bytes (gzipped or plain protobuf) into a validated <see cref="Profile"/>. Gzip input is
/// parsed as it inflates, and inflating stops at a cap, so a gzip bomb costs milliseconds and no buffer of
/// its inflated size.
/// </summary>
public sealed class ProfileDecoder
{
    /// <summary>The default cap on the decompressed size: 256 MiB.</summary>
    public const long DefaultMaxDecompressedBytes = 256L * 1024 * 1024;

    private static readonly MessageParser<Profile> Parser = new(() => new Profile());

    public ProfileDecoder(long maxDecompressedBytes = DefaultMaxDecompressedBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxDecompressedBytes);
        MaxDecompressedBytes = maxDecompressedBytes;
    }

    public long MaxDecompressedBytes { get; }

    /// <summary>True when the bytes start with the gzip magic number.</summary>
    public static bool IsGzip(ReadOnlySpan<byte> data) => data.Length >= 2 && data[0] == 0x1f && data[1] == 0x8b;

    /// <summary>Decodes and validates.</summary>
    /// <exception cref="MalformedProfileException">Not a valid profile; the message says why.</exception>
    /// <exception cref="ProfileTooLargeException">It inflates past <see cref="MaxDecompressedBytes"/>.</exception>
    public Profile Decode(ReadOnlyMemory<byte> data)
    {
        if (data.IsEmpty)
            throw new MalformedProfileException("empty body");

        Profile profile;
        try
        {
            if (IsGzip(data.Span))
            {
                using var gzip = new GZipStream(new ReadOnlyMemoryStream(data), CompressionMode.Decompress);
                using var capped = new CappedStream(gzip, MaxDecompressedBytes);
                profile = Parser.ParseFrom(capped);
            }
            else
            {
                if (data.Length > MaxDecompressedBytes)
                    throw new ProfileTooLargeException(MaxDecompressedBytes);
                profile = Parser.ParseFrom(data.Span);
            }
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new MalformedProfileException("not a protobuf profile: " + e.Message, e);
        }
        catch (InvalidDataException e)
        {
            throw new MalformedProfileException("bad gzip stream: " + e.Message, e);
        }

        ProfileValidator.Validate(profile);
        return profile;
    }

    /// <summary>Passes reads through and throws once more than the cap has come out.</summary>
    private sealed class CappedStream(Stream inner, long cap) : Stream
    {
        private long _total;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _total; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = inner.Read(buffer);
            _total += n;
            if (_total > cap)
                throw new ProfileTooLargeException(cap);
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>A read-only stream over memory, so that gzip input needs no copy.</summary>
    private sealed class ReadOnlyMemoryStream(ReadOnlyMemory<byte> data) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => data.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, data.Length - _position);
            data.Span.Slice(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
