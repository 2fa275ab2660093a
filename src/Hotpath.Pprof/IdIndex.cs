namespace Hotpath.Pprof;

/// <summary>
/// Finds an input's function, mapping or location by id. Go writes ids as 1..N in order, so the id is
/// almost always the position; a dictionary is built only for the rare profile where it is not.
/// </summary>
internal sealed class IdIndex<T>(Func<T, ulong> idOf) where T : class
{
    private IList<T> _items = [];
    private Dictionary<ulong, T>? _byId;

    public void Reset(IList<T> items)
    {
        _items = items;
        _byId = null;
        for (var i = 0; i < items.Count; i++)
        {
            if (idOf(items[i]) != (ulong)i + 1)
            {
                _byId = new Dictionary<ulong, T>(items.Count);
                foreach (var item in items)
                    _byId[idOf(item)] = item;
                return;
            }
        }
    }

    public T Get(ulong id)
    {
        if (_byId is null)
        {
            if (id - 1 < (ulong)_items.Count)
                return _items[(int)(id - 1)];
        }
        else if (_byId.TryGetValue(id, out var item))
        {
            return item;
        }

        throw new MalformedProfileException($"unknown id {id}");
    }
}
