using System.Collections.Concurrent;
using System.Diagnostics;

namespace Hotpath.Agent.Spans;

/// <summary>
/// Which <see cref="Activity"/> (trace span) each thread of this process was in, and since when, so that a window's
/// samples can be labelled with the span they were taken in. <see cref="Activity.CurrentChanged"/> fires only where
/// code sets the current activity, not where an async continuation resumes on another thread with the request's
/// execution context; so the span is also kept in an <see cref="AsyncLocal{T}"/> of the timeline's own, whose
/// change handler the runtime calls on every thread the context flows to or leaves. A request's span thus follows
/// it across threads. Kept while a window records (<see cref="Start"/> to <see cref="Stop"/>); in between, a
/// change costs a thread-static read and a field write. In process only: EventPipe's samples carry no activity,
/// so a process profiled from outside has no span labels.
/// </summary>
internal sealed class SpanTimeline : IDisposable
{
    /// <summary>Changes kept per thread per window; past it the thread's later samples get no span (bounded memory).</summary>
    private const int MaxChangesPerThread = 1 << 16;

    [ThreadStatic]
    private static ThreadSpans? t_spans;

    private readonly ConcurrentDictionary<long, ThreadSpans> _threads = new();
    private readonly AsyncLocal<Activity?> _flowing;
    private volatile bool _recording;

    public SpanTimeline()
    {
        _flowing = new AsyncLocal<Activity?>(OnFlowingChanged);
        Activity.CurrentChanged += OnCurrentChanged;
    }

    /// <summary>
    /// Starts keeping changes; each thread's span at this moment is its first entry. Threads that have exited are
    /// forgotten: their last span would otherwise be kept alive, and given to a new thread the system gives their id.
    /// </summary>
    public void Start()
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var (id, thread) in _threads)
        {
            if (thread.HasExited)
                _threads.TryRemove(KeyValuePair.Create(id, thread));
            else
                thread.Restart(now);
        }

        _recording = true;
    }

    /// <summary>Stops keeping changes and returns what was kept, by the operating system's thread id.</summary>
    public SpanLookup Stop()
    {
        _recording = false;
        return new SpanLookup(_threads.ToDictionary(t => t.Key, t => t.Value.Take()));
    }

    // Code set the current activity: the execution context carries it from here, through our AsyncLocal too.
    private void OnCurrentChanged(object? sender, ActivityChangedEventArgs e) => _flowing.Value = e.Current;

    // Set above, or the context changed on this thread (a continuation began or ended here).
    private void OnFlowingChanged(AsyncLocalValueChangedArgs<Activity?> change)
    {
        var spans = t_spans;
        if (spans is null || spans.Owner != this)
        {
            spans = t_spans = new ThreadSpans(this);
            _threads[ThreadIds.Current()] = spans;
        }

        spans.Change(change.CurrentValue, _recording);
    }

    public void Dispose() => Activity.CurrentChanged -= OnCurrentChanged;

    /// <summary>One thread's current activity and, while recording, its changes (written by the thread, read at the window's end).</summary>
    private sealed class ThreadSpans(SpanTimeline owner)
    {
        private readonly Lock _gate = new();
        private readonly WeakReference<Thread> _thread = new(Thread.CurrentThread);
        private List<(long Time, Activity? Span)> _changes = [];
        private Activity? _current;

        public SpanTimeline Owner { get; } = owner;

        /// <summary>The thread that made this (the one that changes it) has ended.</summary>
        public bool HasExited => !_thread.TryGetTarget(out var thread) || !thread.IsAlive;

        public void Change(Activity? current, bool recording)
        {
            if (!recording)
            {
                // Between windows (most of the time) only the span is kept, for the next window's first entry.
                // A change racing a window's start may be missed: the thread's next change sets it right.
                Volatile.Write(ref _current, current);
                return;
            }

            var time = Stopwatch.GetTimestamp();
            lock (_gate)
            {
                _current = current;
                // The last entry a full list takes says "no span known from here", so that the thread's later
                // samples are not charged to the span it was in when the list filled.
                if (_changes.Count < MaxChangesPerThread - 1)
                    _changes.Add((time, current));
                else if (_changes.Count == MaxChangesPerThread - 1)
                    _changes.Add((time, null));
            }
        }

        public void Restart(long time)
        {
            lock (_gate)
            {
                _changes = [(time, _current)];
            }
        }

        public (long Time, Activity? Span)[] Take()
        {
            lock (_gate)
            {
                var taken = _changes.ToArray();
                _changes = [];
                return taken;
            }
        }
    }
}
