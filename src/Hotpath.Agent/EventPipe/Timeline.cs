namespace Hotpath.Agent.EventPipe;

/// <summary>Lookups in changes sorted by time.</summary>
internal static class Timeline
{
    /// <summary>The index of the last change at or before <paramref name="time"/>, or -1 when all are after it.</summary>
    public static int IndexAt<T>(ReadOnlySpan<T> changes, long time, Func<T, long> timeOf)
    {
        int low = 0, high = changes.Length - 1, found = -1;
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            if (timeOf(changes[middle]) <= time)
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
