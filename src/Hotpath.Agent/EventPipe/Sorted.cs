using System.Numerics;

namespace Hotpath.Agent.EventPipe;

/// <summary>Lookups in items sorted by a key: code by address, changes by time.</summary>
internal static class Sorted
{
    /// <summary>The index of the last item whose key is at or before <paramref name="key"/>, or -1 when all are after it.</summary>
    public static int LastAtOrBefore<T, TKey>(ReadOnlySpan<T> items, TKey key, Func<T, TKey> keyOf) where TKey : IComparisonOperators<TKey, TKey, bool>
    {
        int low = 0, high = items.Length - 1, found = -1;
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            if (keyOf(items[middle]) <= key)
            {
                found = middle;
                low = middle + 1;
            }
            else
                high = middle - 1;
        }

        return found;
    }
}
