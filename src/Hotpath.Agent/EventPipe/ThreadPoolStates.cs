using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Hotpath.Agent.EventPipe;

/// <summary>
/// The thread pool's state over a window, from the runtime's Threading events (keyword 0x10000): its worker count
/// as threads start and stop and as the pool adjusts it, and why it last adjusted it (<c>starvation</c> when it
/// injected a thread because work waited). A wall or block sample is labelled with the state at its time, so the
/// UI's sample-label group-by shows how much of the blocking happened while the pool starved.
/// </summary>
internal sealed class ThreadPoolStates
{
    public const int WorkerThreadStart = 50, WorkerThreadStop = 51, WorkerThreadAdjustment = 55;

    /// <summary>The runtime's ThreadPoolWorkerThreadAdjustmentReason, as label values.</summary>
    private static readonly string[] Reasons =
        ["warmup", "initializing", "random_move", "climbing_move", "change_point_detected", "stabilizing", "starvation", "thread_timed_out", "cooperative_blocking"];

    private readonly List<(long Time, int Workers, int Reason)> _changes = [];
    private readonly Dictionary<int, string> _counts = [];
    private bool _sorted = true;

    /// <summary>Takes one of the three events; false for any other.</summary>
    public bool TryAdd(int eventId, long timestamp, ReadOnlySpan<byte> payload)
    {
        switch (eventId)
        {
            case WorkerThreadStart or WorkerThreadStop:
                // ActiveWorkerThreadCount, RetiredWorkerThreadCount, ClrInstanceID; the reason stays the last adjustment's.
                Add(timestamp, (int)BinaryPrimitives.ReadUInt32LittleEndian(payload), _changes.Count > 0 ? _changes[^1].Reason : -1);
                return true;
            case WorkerThreadAdjustment:
                // AverageThroughput, NewWorkerThreadCount, Reason, ClrInstanceID.
                Add(timestamp, (int)BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]), (int)BinaryPrimitives.ReadUInt32LittleEndian(payload[12..]));
                return true;
            default:
                return false;
        }
    }

    private void Add(long timestamp, int workers, int reason)
    {
        if (_changes.Count > 0 && timestamp < _changes[^1].Time)
            _sorted = false; // events come in per-thread buffers: sorted before looking up
        _changes.Add((timestamp, workers, reason));
    }

    /// <summary>The pool's state at <paramref name="timestamp"/> (none before the window's first event of it).</summary>
    public ThreadPoolState At(long timestamp)
    {
        if (!_sorted)
        {
            _changes.Sort((a, b) => a.Time.CompareTo(b.Time));
            _sorted = true;
        }

        var found = Sorted.LastAtOrBefore(CollectionsMarshal.AsSpan(_changes), timestamp, static c => c.Time);
        if (found < 0)
            return default;
        var (_, workers, reason) = _changes[found];
        return new ThreadPoolState(
            workers < 0 ? null : _counts.TryGetValue(workers, out var text) ? text : _counts[workers] = workers.ToString(CultureInfo.InvariantCulture),
            reason < 0 ? null : reason < Reasons.Length ? Reasons[reason] : "unknown");
    }
}

/// <summary>The thread pool's worker count and the reason of its last adjustment, as sample labels (null: not seen).</summary>
internal readonly record struct ThreadPoolState(string? Workers, string? Adjustment)
{
    public void AddTo(List<KeyValuePair<string, string>> labels)
    {
        if (Workers is not null)
            labels.Add(new("threadpool_workers", Workers));
        if (Adjustment is not null)
            labels.Add(new("threadpool_adjustment", Adjustment));
    }
}
