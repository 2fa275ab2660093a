using System.Collections.Concurrent;

namespace Hotpath.Pprof;

/// <summary>
/// Decoded profiles for requests that keep one past an await (ingest hands it to the store), reused so that
/// their arrays are not allocated per request; a few are kept, the rest left to the GC.
/// </summary>
public sealed class RawProfilePool(int capacity = 64)
{
    private readonly ConcurrentBag<RawProfile> _free = [];

    public RawProfile Rent() => _free.TryTake(out var raw) ? raw : new RawProfile();

    /// <summary>Releases the profile's decode (<see cref="ProfileDecoder.Release"/>) and keeps it for the next request.</summary>
    public void Return(RawProfile raw)
    {
        ArgumentNullException.ThrowIfNull(raw);
        ProfileDecoder.Release(raw);
        if (_free.Count < capacity)
            _free.Add(raw);
    }
}
