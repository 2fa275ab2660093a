using System.Buffers;
using System.Runtime.InteropServices;

namespace Hotpath.Agent.EventPipe;

/// <summary>
/// A window's samples of threads (the sample profiler's), kept until the session ends: each thread's stack, whether
/// it was waiting, and its time since its previous sample. The profiler samples every thread about a thousand
/// times a second, so a 3 s window of HotApp's 25 threads gives some 75,000; kept as 24-byte entries in pooled
/// chunks below the large object heap's threshold, not as a record per profile kind in a growing list (6 MiB of
/// large-object arrays a window, collected only by full GCs that the arrays themselves set off: measured).
/// </summary>
internal sealed class ThreadSamples : IDisposable
{
    /// <summary>48 KiB a chunk: under the 85,000 bytes at which arrays go to the large object heap.</summary>
    private const int ChunkLength = 2048;

    private readonly bool _keepWaiting;
    private readonly List<Entry[]> _chunks = [];
    private int _inLastChunk = ChunkLength;
    private readonly Dictionary<long, LastSample> _threads = [];
    private readonly List<long> _threadIds = [];

    /// <param name="keepWaiting">Keep the samples of waiting threads too (wall time), not only those running managed code (CPU).</param>
    public ThreadSamples(bool keepWaiting) => _keepWaiting = keepWaiting;

    /// <summary>A thread's sample: its stack (an index into the trace's stacks), ticks since its previous one (-1: its first), whether it was waiting.</summary>
    public readonly record struct Sample(int Stack, long ThreadId, long Time, long Interval, bool Waiting);

    /// <summary>As kept: the thread as an index into <see cref="_threadIds"/>, the interval in an int (clamped).</summary>
    private readonly record struct Entry(long Time, int Stack, int Interval, int Thread, bool Waiting);

    /// <summary>A thread's index, and its previous sample's time and, if it was waiting, stack.</summary>
    private record struct LastSample(int Index, long Time, int WaitingAt);

    /// <param name="managed">The profiler saw the thread running managed code (not External).</param>
    public void Add(long threadId, long time, int stack, bool managed)
    {
        ref var last = ref CollectionsMarshal.GetValueRefOrAddDefault(_threads, threadId, out var seen);
        if (!seen)
        {
            last = new LastSample(_threadIds.Count, -1, -1);
            _threadIds.Add(threadId);
        }

        var previous = last;
        last = previous with { Time = time, WaitingAt = managed ? -1 : stack };
        // A thread that wakes while the sampler holds the runtime suspended is reported as running managed code,
        // but still at the stack it waited at: time blocked, not CPU.
        var waiting = !managed || stack == previous.WaitingAt;
        if (stack < 0 || (waiting && !_keepWaiting))
            return;
        // An interval over int's range (2 s in nanosecond ticks) is clamped: a profile counts none over a second.
        var interval = previous.Time < 0 ? -1 : (int)Math.Min(time - previous.Time, int.MaxValue);
        if (_inLastChunk == ChunkLength)
        {
            _chunks.Add(ArrayPool<Entry>.Shared.Rent(ChunkLength));
            _inLastChunk = 0;
        }

        _chunks[^1][_inLastChunk++] = new Entry(time, stack, interval, previous.Index, waiting);
    }

    /// <summary>The samples in the order they were added.</summary>
    public IEnumerable<Sample> All()
    {
        for (var c = 0; c < _chunks.Count; c++)
        {
            var chunk = _chunks[c];
            var length = c == _chunks.Count - 1 ? _inLastChunk : ChunkLength;
            for (var i = 0; i < length; i++)
            {
                var entry = chunk[i];
                yield return new Sample(entry.Stack, _threadIds[entry.Thread], entry.Time, entry.Interval, entry.Waiting);
            }
        }
    }

    public void Dispose()
    {
        foreach (var chunk in _chunks)
            ArrayPool<Entry>.Shared.Return(chunk);
        _chunks.Clear();
        _inLastChunk = ChunkLength;
    }
}
