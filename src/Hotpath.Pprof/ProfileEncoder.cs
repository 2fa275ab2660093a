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
        using var gzip = new GZipStream(destination, level, leaveOpen: true);
        using var output = new CodedOutputStream(gzip, OutputBuffer);
        profile.WriteTo(output);
    }

    public static byte[] ToGzipBytes(Profile profile, CompressionLevel level = CompressionLevel.Fastest)
    {
        using var buffer = new MemoryStream();
        WriteGzip(profile, buffer, level);
        return buffer.ToArray();
    }
}
