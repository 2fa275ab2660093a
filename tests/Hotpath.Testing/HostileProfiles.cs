using System.IO.Compression;

namespace Hotpath.Testing;

/// <summary>
/// Bodies built to hurt a decoder, made here rather than stored: each inflates from little to a lot of
/// tiny protobuf elements, or claims more than it holds. Streamed into gzip, never whole in memory.
/// </summary>
public static class HostileProfiles
{
    /// <summary><paramref name="count"/> empty string-table entries (2 bytes each on the wire).</summary>
    public static byte[] EmptyStrings(int count) => Gzip([], [0x32, 0x00], count);

    /// <summary>One sample with <paramref name="count"/> packed references to location 1 (1 byte each).</summary>
    public static byte[] LocationReferences(int count)
    {
        var inner = Varint((ulong)count);
        byte[] prefix = [0x12, .. Varint((ulong)(1 + inner.Length + count)), 0x0a, .. inner];
        return Gzip(prefix, [0x01], count);
    }

    /// <summary>A string entry that claims <paramref name="claimed"/> bytes, then inflates zeros into it.</summary>
    public static byte[] ClaimedString(int claimed) => Gzip([0x32, .. Varint((ulong)claimed)], [0x00], claimed);

    private static byte[] Gzip(byte[] prefix, byte[] filler, int count)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gzip.Write(prefix);
            var chunk = new byte[filler.Length * 65536];
            for (var i = 0; i < chunk.Length; i++)
                chunk[i] = filler[i % filler.Length];
            for (long left = count; left > 0; left -= 65536)
                gzip.Write(chunk, 0, (int)Math.Min(left, 65536) * filler.Length);
        }

        return output.ToArray();
    }

    private static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        while (value >= 0x80)
        {
            bytes.Add((byte)(value | 0x80));
            value >>= 7;
        }

        bytes.Add((byte)value);
        return [.. bytes];
    }
}
