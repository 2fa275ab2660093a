using System.IO.Compression;
using Google.Protobuf;
using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof;

/// <summary>Writes a profile as gzipped protobuf, the form pprof tools read.</summary>
public static class ProfileEncoder
{
    // The default 4 KiB output buffer calls the deflater for every 4 KiB written; a piece build spent more time
    // there than in deflating itself.
    private const int OutputBuffer = 64 * 1024;

    public static void WriteGzip(Profile profile, Stream destination, CompressionLevel level = CompressionLevel.Fastest)
    {
        ArgumentNullException.ThrowIfNull(profile);
        WriteGzip(profile.WriteTo, destination, level);
    }

    public static byte[] ToGzipBytes(Profile profile, CompressionLevel level = CompressionLevel.Fastest)
    {
        ArgumentNullException.ThrowIfNull(profile);
        return ToGzipBytes(profile.WriteTo, level);
    }

    /// <summary>Gzips what <paramref name="write"/> encodes: a profile of the generated model, or a merger's tables.</summary>
    internal static byte[] ToGzipBytes(Action<CodedOutputStream> write, CompressionLevel level)
    {
        using var buffer = new MemoryStream();
        WriteGzip(write, buffer, level);
        return buffer.ToArray();
    }

    /// <summary>What <paramref name="write"/> encodes, uncompressed.</summary>
    internal static byte[] ToBytes(Action<CodedOutputStream> write)
    {
        using var buffer = new MemoryStream();
        using (var output = new CodedOutputStream(buffer, OutputBuffer))
            write(output);
        return buffer.ToArray();
    }

    private static void WriteGzip(Action<CodedOutputStream> write, Stream destination, CompressionLevel level)
    {
        using var gzip = new GZipStream(destination, level, leaveOpen: true);
        using var output = new CodedOutputStream(gzip, OutputBuffer);
        write(output);
    }
}
