namespace Hotpath.Pprof;

/// <summary>
/// Finds a function, mapping or location of one profile by id, and proves ids unique and non-zero. Go writes
/// ids as 1..N in order, so the id is almost always the position; a dictionary is built only when it is not.
/// </summary>
internal sealed class IdIndex(DecodeMeter? meter = null)
{
    // A dictionary entry: key, value, hash code, next index, and a bucket.
    private const int EntryBytes = 24;

    private Dictionary<ulong, int> _byId = [];
    private int _count;
    private bool _dense;

    public void Build(int count, Func<int, ulong> idAt, string what)
    {
        _count = count;
        _dense = true;
        _byId.Clear();
        for (var i = 0; i < count; i++)
        {
            if (idAt(i) != (ulong)i + 1)
            {
                _dense = false;
                break;
            }
        }

        if (_dense)
            return;
        meter?.Reserve((long)count * EntryBytes);
        _byId.EnsureCapacity(count);
        for (var i = 0; i < count; i++)
        {
            var id = idAt(i);
            if (id == 0 || !_byId.TryAdd(id, i))
                throw new MalformedProfileException($"{what} id {id} is zero or repeated");
        }
    }

    /// <summary>About the bytes the dictionary takes.</summary>
    public long CapacityBytes => (long)_byId.Capacity * EntryBytes;

    /// <summary>Forgets the ids, and gives a dictionary larger than <paramref name="maxBytes"/> back to the GC.</summary>
    public void Trim(long maxBytes)
    {
        _count = 0;
        _dense = true;
        if (CapacityBytes > maxBytes)
            _byId = [];
        else
            _byId.Clear();
    }

    /// <summary>The position of the id, or -1.</summary>
    public int IndexOf(ulong id)
    {
        if (_dense)
            return id - 1 < (ulong)_count ? (int)(id - 1) : -1;
        return _byId.TryGetValue(id, out var index) ? index : -1;
    }
}
