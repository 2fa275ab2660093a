using System.Runtime.CompilerServices;

namespace Hotpath.Pprof;

/// <summary>
/// A growable array of structs that is cleared, not reallocated, between profiles. Growth is reserved
/// against the decode's meter first, so that a hostile profile fails before it allocates past its limit.
/// </summary>
internal sealed class ValueList<T>(DecodeMeter? meter = null)
{
    private const int InitialCapacity = 16;

    private T[] _items = new T[InitialCapacity];

    public int Count { get; private set; }

    /// <summary>The bytes the backing array takes.</summary>
    public long CapacityBytes => (long)_items.Length * Unsafe.SizeOf<T>();

    public ref T this[int index] => ref _items[index];

    public Span<T> AsSpan() => _items.AsSpan(0, Count);

    public Span<T> Slice(int start, int length) => _items.AsSpan(start, length);

    public void Add(in T item)
    {
        if (Count == _items.Length)
            Grow();
        _items[Count++] = item;
    }

    public void Clear() => Count = 0;

    /// <summary>Clears, and gives a backing array larger than <paramref name="maxBytes"/> back to the GC.</summary>
    public void Trim(long maxBytes)
    {
        Count = 0;
        if (CapacityBytes > maxBytes)
            _items = new T[InitialCapacity];
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow()
    {
        var length = (int)Math.Min(_items.Length * 2L, Array.MaxLength);
        if (length == _items.Length)
            throw new MalformedProfileException("profile has more elements of one kind than an array holds");
        meter?.Reserve((long)length * Unsafe.SizeOf<T>());
        Array.Resize(ref _items, length);
    }
}
