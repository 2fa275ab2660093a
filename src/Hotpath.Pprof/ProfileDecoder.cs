using System.IO.Compression;
using Google.Protobuf;
using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof;

/// <summary>What ingest needs to know of a valid profile.</summary>
/// <param name="DefaultTotal">Total of the sample type pprof shows by default (default_sample_type, else the last).</param>
public readonly record struct ProfileSummary(long TimeNanos, int Samples, int SampleTypes, long DefaultTotal);

/// <summary>
/// Turns received bytes (gzipped or plain protobuf) into a validated profile, with a cap on the decompressed
/// size. Hot paths use <see cref="Load"/> into a reused <see cref="RawProfile"/> or <see cref="Inspect"/>;
/// <see cref="Decode"/> gives the generated model for tools and tests.
/// </summary>
public sealed class ProfileDecoder
{
    /// <summary>The default cap on the decompressed size: 256 MiB.</summary>
    public const long DefaultMaxDecompressedBytes = 256L * 1024 * 1024;

    // An array this large is not kept for the next profile: one huge input must not pin memory for good.
    private const int RetainedArrayLimit = 4 * 1024 * 1024;

    private readonly DecodeBudget _budget;

    [ThreadStatic]
    private static RawProfile? t_scratch;

    /// <param name="budget">The memory decodes may take; unlimited when not given (tools, tests).</param>
    public ProfileDecoder(long maxDecompressedBytes = DefaultMaxDecompressedBytes, DecodeBudget? budget = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxDecompressedBytes);
        MaxDecompressedBytes = maxDecompressedBytes;
        _budget = budget ?? DecodeBudget.Unlimited;
    }

    public long MaxDecompressedBytes { get; }

    /// <summary>True when the bytes start with the gzip magic number.</summary>
    public static bool IsGzip(ReadOnlySpan<byte> data) => data.Length >= 2 && data[0] == 0x1f && data[1] == 0x8b;

    /// <summary>Validates the profile and returns its summary, allocating nothing per sample.</summary>
    /// <exception cref="MalformedProfileException">Not a valid profile; the message says why.</exception>
    /// <exception cref="ProfileTooLargeException">It inflates past <see cref="MaxDecompressedBytes"/>, or its decode past the budget's per-profile limit.</exception>
    /// <exception cref="DecodeBudgetExhaustedException">Other decodes hold the budget's shared memory.</exception>
    public ProfileSummary Inspect(ReadOnlyMemory<byte> data)
    {
        var raw = t_scratch ??= new RawProfile();
        try
        {
            Load(data, raw);
            return new ProfileSummary(raw.TimeNanos, raw.SampleCount, raw.SampleTypeCount, raw.Total(raw.DefaultSampleTypeIndex()));
        }
        finally
        {
            Release(raw);
        }
    }

    /// <summary>
    /// Decodes and validates into <paramref name="target"/>, reusing its arrays. The memory it takes stays
    /// reserved against the budget until <see cref="Release"/>.
    /// </summary>
    public void Load(ReadOnlyMemory<byte> data, RawProfile target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (data.IsEmpty)
            throw new MalformedProfileException("empty body");

        target.Meter.End(target.RetainedBytes); // a load without a release in between holds nothing twice
        target.Meter.Begin(_budget);
        // The arrays kept from earlier profiles are this decode's memory too.
        target.Meter.Reserve(target.RetainedBytes);
        var buffer = target.Buffer;
        int length;
        if (IsGzip(data.Span))
        {
            (buffer, length) = Inflate(data, buffer, target.Meter);
        }
        else
        {
            if (data.Length > MaxDecompressedBytes)
                throw new ProfileTooLargeException(MaxDecompressedBytes);
            if (buffer.Length < data.Length)
            {
                target.Meter.Reserve(data.Length);
                buffer = new byte[data.Length];
            }

            data.Span.CopyTo(buffer);
            length = data.Length;
        }

        target.Load(buffer, length);
    }

    /// <summary>Decodes and validates into the generated model.</summary>
    public Profile Decode(ReadOnlyMemory<byte> data)
    {
        var raw = new RawProfile();
        try
        {
            Load(data, raw);
            return Profile.Parser.ParseFrom(raw.Buffer.AsSpan(0, raw.DecodedLength));
        }
        catch (InvalidProtocolBufferException e)
        {
            // The wire format passed our reader but not Google.Protobuf's stricter one (e.g. invalid UTF-8).
            throw new MalformedProfileException("not a protobuf profile: " + e.Message, e);
        }
        finally
        {
            Release(raw);
        }
    }

    /// <summary>Gives the decode's memory back to the budget and drops arrays too large to keep; the next load allocates afresh.</summary>
    public static void Release(RawProfile raw)
    {
        ArgumentNullException.ThrowIfNull(raw);
        raw.Release(RetainedArrayLimit);
    }

    /// <summary>Inflates into the buffer, growing it by doubling, never past the cap.</summary>
    private (byte[] Buffer, int Length) Inflate(ReadOnlyMemory<byte> data, byte[] buffer, DecodeMeter meter)
    {
        if (buffer.Length == 0)
        {
            // A small start: most profiles inflate to tens of kilobytes, and growth is by doubling.
            meter.Reserve(64 * 1024);
            buffer = new byte[64 * 1024];
        }

        var cap = (int)Math.Min(MaxDecompressedBytes, Array.MaxLength - 1);
        var length = 0;
        try
        {
            using var gzip = new GZipStream(new ReadOnlyMemoryStream(data), CompressionMode.Decompress);
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > cap)
                        throw new ProfileTooLargeException(MaxDecompressedBytes);
                    var grown = (int)Math.Min(buffer.Length * 2L, cap + 1L);
                    meter.Reserve(grown);
                    Array.Resize(ref buffer, grown);
                }

                var read = gzip.Read(buffer, length, buffer.Length - length);
                if (read == 0)
                    return (buffer, length);
                if (length == 0 && buffer[0] < 8)
                {
                    // A protobuf message starts with a key of field number >= 1; zeros (a gzip bomb's usual
                    // payload) are refused here, before inflating any further.
                    throw new MalformedProfileException("not a protobuf profile: invalid field number 0 at byte 0");
                }

                length += read;
                if (length > cap)
                    throw new ProfileTooLargeException(MaxDecompressedBytes);
            }
        }
        catch (InvalidDataException e)
        {
            throw new MalformedProfileException("bad gzip stream: " + e.Message, e);
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
