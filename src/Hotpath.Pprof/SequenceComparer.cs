using System.Numerics;
using System.Runtime.InteropServices;

namespace Hotpath.Pprof;

/// <summary>
/// Compares arrays by content, and lets a dictionary keyed by arrays be probed with a span, so that a
/// lookup that hits allocates nothing. Used for UTF-8 strings and for location and sample keys.
/// </summary>
public sealed class SequenceComparer<T> : IEqualityComparer<T[]>, IAlternateEqualityComparer<ReadOnlySpan<T>, T[]>
    where T : unmanaged, IEquatable<T>
{
    public static readonly SequenceComparer<T> Instance = new();

    public bool Equals(T[]? x, T[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode(T[] obj) => Hash(obj);

    public bool Equals(ReadOnlySpan<T> alternate, T[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<T> alternate) => Hash(alternate);

    public T[] Create(ReadOnlySpan<T> alternate) => alternate.ToArray();

    private static int Hash(ReadOnlySpan<T> values)
    {
        var bytes = MemoryMarshal.AsBytes(values);
        var h = 0xcbf29ce484222325UL ^ (ulong)bytes.Length;
        foreach (var word in MemoryMarshal.Cast<byte, ulong>(bytes))
            h = BitOperations.RotateLeft(h ^ word, 27) * 0x9E3779B97F4A7C15UL;
        foreach (var b in bytes[(bytes.Length & ~7)..])
            h = BitOperations.RotateLeft(h ^ b, 27) * 0x9E3779B97F4A7C15UL;
        return (int)(h ^ (h >> 32));
    }
}
