using System.Numerics;

namespace Hotpath.Pprof;

/// <summary>
/// Compares ulong sequences by content, and lets a dictionary keyed by arrays be probed with a span, so that
/// a lookup that hits allocates nothing.
/// </summary>
internal sealed class ULongSequenceComparer : IEqualityComparer<ulong[]>, IAlternateEqualityComparer<ReadOnlySpan<ulong>, ulong[]>
{
    public static readonly ULongSequenceComparer Instance = new();

    public bool Equals(ulong[]? x, ulong[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode(ulong[] obj) => Hash(obj);

    public bool Equals(ReadOnlySpan<ulong> alternate, ulong[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<ulong> alternate) => Hash(alternate);

    public ulong[] Create(ReadOnlySpan<ulong> alternate) => alternate.ToArray();

    private static int Hash(ReadOnlySpan<ulong> values)
    {
        var h = 0xcbf29ce484222325UL ^ (ulong)values.Length;
        foreach (var v in values)
            h = BitOperations.RotateLeft(h ^ v, 27) * 0x9E3779B97F4A7C15UL;
        return (int)(h ^ (h >> 32));
    }
}
