using System.IO.Compression;
using Google.Protobuf;
using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof;

/// <summary>Writes a profile as gzipped protobuf, the form pprof tools read.</summary>
public static class ProfileEncoder
{
    public static void WriteGzip(Profile profile, Stream destination, CompressionLevel level = CompressionLevel.Fastest)
    {
        ArgumentNullException.ThrowIfNull(profile);
        using var gzip = new GZipStream(destination, level, leaveOpen: true);
        profile.WriteTo(gzip);
    }

    public static byte[] ToGzipBytes(Profile profile, CompressionLevel level = CompressionLevel.Fastest)
    {
        using var buffer = new MemoryStream();
        WriteGzip(profile, buffer, level);
        return buffer.ToArray();
    }
}
