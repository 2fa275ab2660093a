namespace Hotpath.Pprof;

/// <summary>A growable array of structs that is cleared, not reallocated, between profiles.</summary>
internal sealed class ValueList<T>
{
    private T[] _items = new T[16];

    public int Count { get; private set; }

    public ref T this[int index] => ref _items[index];

    public Span<T> AsSpan() => _items.AsSpan(0, Count);

    public Span<T> Slice(int start, int length) => _items.AsSpan(start, length);

    public void Add(in T item)
    {
        if (Count == _items.Length)
            Array.Resize(ref _items, _items.Length * 2);
        _items[Count++] = item;
    }

    public void Clear() => Count = 0;
}
