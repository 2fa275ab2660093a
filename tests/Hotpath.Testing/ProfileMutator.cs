using System.IO.Compression;

namespace Hotpath.Testing;

/// <summary>
/// Mutations of real profiles for fuzzing: flipped bits, overwritten, inserted and deleted bytes, varints
/// set to extremes, truncations and spliced runs, applied to the decompressed protobuf and then either
/// gzipped again or sent plain. Seeded, so a failure names the mutation that found it.
/// </summary>
public sealed class ProfileMutator(int seed)
{
    private readonly Random _random = new(seed);

    /// <summary>One mutant of <paramref name="protobuf"/>, and what was done to it.</summary>
    public (byte[] Body, string What) Mutate(byte[] protobuf)
    {
        ArgumentNullException.ThrowIfNull(protobuf);
        var bytes = new List<byte>(protobuf);
        var steps = 1 + _random.Next(4);
        var what = new List<string>(steps);
        for (var i = 0; i < steps && bytes.Count > 0; i++)
        {
            var at = _random.Next(bytes.Count);
            switch (_random.Next(7))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << _random.Next(8));
                    what.Add($"flip@{at}");
                    break;
                case 1:
                    bytes[at] = (byte)_random.Next(256);
                    what.Add($"set@{at}");
                    break;
                case 2:
                    bytes.InsertRange(at, Enumerable.Range(0, 1 + _random.Next(8)).Select(_ => (byte)_random.Next(256)));
                    what.Add($"insert@{at}");
                    break;
                case 3:
                    bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + _random.Next(16)));
                    what.Add($"delete@{at}");
                    break;
                case 4:
                    // A varint of 10 bytes: the largest length or id a field can claim.
                    bytes.InsertRange(at, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
                    what.Add($"maxvarint@{at}");
                    break;
                case 5:
                    bytes.RemoveRange(at, bytes.Count - at);
                    what.Add($"truncate@{at}");
                    break;
                default:
                    var from = _random.Next(bytes.Count);
                    var run = bytes.GetRange(from, Math.Min(bytes.Count - from, 1 + _random.Next(256)));
                    bytes.InsertRange(at, run);
                    what.Add($"splice{from}@{at}");
                    break;
            }
        }

        var gzip = _random.Next(4) != 0;
        return (gzip ? Gzip([.. bytes]) : [.. bytes], string.Join(",", what) + (gzip ? " gz" : " plain"));
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
            gzip.Write(bytes);
        return output.ToArray();
    }
}
