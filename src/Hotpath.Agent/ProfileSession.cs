using System.Buffers.Binary;
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Runtime.InteropServices;
using Hotpath.Agent.EventPipe;
using Hotpath.Agent.Spans;
using Hotpath.Pprof;
using Hotpath.Pprof.Proto;
using Microsoft.Diagnostics.NETCore.Client;

namespace Hotpath.Agent;

/// <summary>One profile a recording window produced, with the profefe type it is stored as.</summary>
public sealed record RecordedProfile(ProfileType Type, Profile Profile);

/// <summary>
/// Records one window of a .NET process through EventPipe, streaming (no trace file), and turns it into pprof
/// profiles: <c>cpu</c> from the sample profiler's samples of threads running managed code, <c>wall</c> from all
/// of its samples (waiting threads too, labelled <c>state</c>), <c>heap</c> from sampled allocations, <c>mutex</c>
/// from lock contention, <c>block</c> from blocking waits, <c>other</c> from exceptions thrown. Samples keep their stacks as addresses until the session
/// ends; the rundown it asks for then names every method the process has code for, and the stacks are
/// resolved once each. One session serves every kind, so the rundown is paid once per window.
/// </summary>
public static class ProfileSession
{
    private const string SampleProfilerProvider = "Microsoft-DotNETCore-SampleProfiler", TasksProvider = "System.Threading.Tasks.TplEventSource";
    private const long GcKeyword = 0x1, ContentionKeyword = 0x4000, ExceptionKeyword = 0x8000, StackKeyword = 0x40000000,
        ThreadingKeyword = 0x10000, WaitHandleKeyword = 0x40000000000, AllocationSamplingKeyword = 0x80000000000;

    /// <summary>TplEventSource's <c>Tasks</c> keyword: TaskWaitBegin and (at Verbose) TaskWaitEnd.</summary>
    private const long TasksKeyword = 0x2;

    /// <summary>The runtime samples one allocation per this many bytes on average (.NET 10 AllocationSampled).</summary>
    private const double AllocationSamplingMean = 102_400;

    /// <summary>
    /// EventPipe's buffer in the target: bounds what a slow consumer can cost the target's memory (events past
    /// it are dropped, not queued).
    /// </summary>
    private const int CircularBufferMegabytes = 16;

    /// <summary>
    /// Records <paramref name="window"/> of process <paramref name="processId"/> and returns a profile for each
    /// requested kind that saw samples. When the process is this one, the agent's own work is left out.
    /// </summary>
    /// <param name="time">The clock the profiles' windows are stamped with (null: the system's).</param>
    public static Task<IReadOnlyList<RecordedProfile>> RecordAsync(int processId, ProfileKinds kinds, TimeSpan window, CancellationToken cancellationToken,
        TimeProvider? time = null) =>
        RecordAsync(processId, kinds, window, allocationTicksOnly: false, cancellationToken, time);

    /// <param name="allocationTicksOnly">
    /// Measures allocations by GCAllocationTick alone, as on runtimes before .NET 10 (tests run the fallback with it).
    /// </param>
    /// <param name="spans">This process's span changes, to label its samples with their spans (in process only), or null.</param>
    internal static async Task<IReadOnlyList<RecordedProfile>> RecordAsync(int processId, ProfileKinds kinds, TimeSpan window, bool allocationTicksOnly,
        CancellationToken cancellationToken, TimeProvider? time = null, SpanTimeline? spans = null)
    {
        if (spans is not null && processId != Environment.ProcessId)
            throw new ArgumentException("spans are known in process only", nameof(spans));
        time ??= TimeProvider.System;
        if (kinds == ProfileKinds.None)
            throw new ArgumentException("nothing to record", nameof(kinds));
        var client = new DiagnosticsClient(processId);
        // Method names come from the rundown at the session's end, so no Loader or JIT events are needed.
        var keywords = StackKeyword;
        if (kinds.HasFlag(ProfileKinds.Heap))
            keywords |= GcKeyword | (allocationTicksOnly ? 0 : AllocationSamplingKeyword); // GC for GCAllocationTick, the fallback before .NET 10
        if (kinds.HasFlag(ProfileKinds.Mutex))
            keywords |= ContentionKeyword;
        if (kinds.HasFlag(ProfileKinds.Exceptions))
            keywords |= ExceptionKeyword;
        if (kinds.HasFlag(ProfileKinds.Block))
            keywords |= WaitHandleKeyword; // .NET 9+: threads blocked in the runtime's waits
        if ((kinds & (ProfileKinds.Wall | ProfileKinds.Block)) != 0)
            keywords |= ThreadingKeyword; // the thread pool's workers and adjustments, as the samples' labels
        var providers = new List<EventPipeProvider> { new(ManagedCode.RuntimeProvider, EventLevel.Verbose, keywords) }; // Verbose: GCAllocationTick, WaitHandleWait
        if ((kinds & (ProfileKinds.Cpu | ProfileKinds.Wall)) != 0)
            providers.Add(new EventPipeProvider(SampleProfilerProvider, EventLevel.Informational));
        if (kinds.HasFlag(ProfileKinds.Block))
            providers.Add(new EventPipeProvider(TasksProvider, EventLevel.Verbose, TasksKeyword)); // a task's whole wait, its spinning too

        // The samples share the kernel's count of the CPU time (their intervals only estimate it).
        var cpuBefore = ProcessCpuTime.Nanoseconds(processId);
        var started = time.GetUtcNow();
        using var session = client.StartEventPipeSession(providers, requestRundown: true, CircularBufferMegabytes);
        Recorder? recorder = null;
        using var reader = new NetTraceReader(session.EventStream, (in TraceEventRecord record) => recorder!.OnEvent(record));
        using var recording = recorder = new Recorder(kinds, processId, reader.Stacks);
        var reading = reader.ReadAsync(CancellationToken.None);
        spans?.Start();
        SpanLookup? spanLookup;
        DateTimeOffset ended;
        try
        {
            await Task.Delay(window, time, cancellationToken);
        }
        finally
        {
            // The window the samples cover ends here: the rundown sent as the session stops takes no samples.
            ended = time.GetUtcNow();
            spanLookup = spans?.Stop();
            // Stopping sends the rundown, then ends the stream.
            await session.StopAsync(CancellationToken.None);
            await reading;
        }

        // The CPU time the kernel counted from the session's start to its end.
        var cpuUsed = ProcessCpuTime.Nanoseconds(processId) - cpuBefore;
        // The events' clock is the one the span changes were timed by (Linux: CLOCK_MONOTONIC, in nanoseconds), or spans cannot be placed.
        return recorder.Build(reader, started, ended - started, cpuUsed, reader.TicksPerSecond == Stopwatch.Frequency ? spanLookup : null);
    }

    /// <summary>
    /// The window's samples, each a stack (an index into the reader's stacks), values and maybe a label, kept
    /// until the rundown has named the methods.
    /// </summary>
    /// <param name="processId">The process recorded: when it is this one, the agent's own work is left out.</param>
    /// <param name="stacks">The trace's stacks, as the reader reads them.</param>
    private sealed class Recorder(ProfileKinds kinds, int processId, IReadOnlyList<ulong[]> stacks) : IDisposable
    {
        private const int ThreadSample = 0, GCAllocationTick = 10, ExceptionThrown = 80, ContentionStart = 81, ContentionStop = 91,
            WaitHandleWaitStart = 301, WaitHandleWaitStop = 302, AllocationSampled = 303;
        private const int TaskWaitBegin = 10, TaskWaitEnd = 11, SynchronousWait = 1;
        private const int ManagedSample = 2;

        private readonly ManagedCode _code = new(stacks);
        private const string Running = "running", Waiting = "waiting";

        private readonly ThreadSamples _threadSamples = new(keepWaiting: kinds.HasFlag(ProfileKinds.Wall));
        private readonly List<Sample> _heap = [], _allocationTicks = [], _mutex = [], _exceptions = [];
        private readonly BlockingWaits _blocking = new();
        private readonly ThreadPoolStates _threadPool = new();
        private readonly Dictionary<long, int> _waiting = [];
        private readonly Dictionary<ulong, string> _typeNames = [];
        private readonly Dictionary<string, string> _exceptionTypes = new(StringComparer.Ordinal);
        private readonly List<KeyValuePair<string, string>> _labels = new(4);
        private readonly Dictionary<long, string?> _threadNames = [];
        private SpanLookup? _spans;

        /// <summary>A sample: its stack, its values, maybe a label's value, and the thread and time it was taken at (for its span).</summary>
        private readonly record struct Sample(int Stack, long First, long Second, string? Type = null, long Thread = 0, long Time = 0);

        /// <summary>Takes one event; one whose payload is shorter than its kind's layout is skipped, the rest still read.</summary>
        public void OnEvent(in TraceEventRecord record)
        {
            try
            {
                Take(record);
            }
            catch (Exception e) when (e is ArgumentOutOfRangeException or FormatException)
            {
                // Skipped: a payload that does not match its event's layout.
            }
        }

        private void Take(in TraceEventRecord record)
        {
            var kind = record.Kind;
            // The waits still open at the window's end count to its last event, not to the rundown sent after it.
            if (kind.Provider != ManagedCode.RundownProvider)
                _blocking.See(record.Timestamp);
            if (kind.Provider == SampleProfilerProvider)
            {
                if (kind.Id == ThreadSample && (kinds & (ProfileKinds.Cpu | ProfileKinds.Wall)) != 0)
                    OnThreadSample(record);
                return;
            }

            if (kind.Provider == TasksProvider)
            {
                // TaskWaitBegin: OriginatingTaskSchedulerID, OriginatingTaskID, TaskID, Behavior, ContinueWithTaskID.
                if (kind.Id == TaskWaitBegin && BinaryPrimitives.ReadInt32LittleEndian(record.Payload[12..]) == SynchronousWait)
                    _blocking.Begin(record.ThreadId, record.Timestamp, record.Stack, task: true);
                else if (kind.Id == TaskWaitEnd)
                    _blocking.End(record.ThreadId, record.Timestamp, record.Stack, task: true);
                return;
            }

            if (_code.TryAdd(record) || kind.Provider != ManagedCode.RuntimeProvider || _threadPool.TryAdd(kind.Id, record.Timestamp, record.Payload))
                return;
            var payload = record.Payload;
            switch (kind.Id)
            {
                case AllocationSampled when kinds.HasFlag(ProfileKinds.Heap):
                    OnAllocationSampled(record, payload);
                    break;
                case GCAllocationTick when kinds.HasFlag(ProfileKinds.Heap) && kind.Version >= 4:
                    OnAllocationTick(record, payload);
                    break;
                case ContentionStart when kinds.HasFlag(ProfileKinds.Mutex):
                    if (record.Stack >= 0)
                        _waiting[record.ThreadId] = record.Stack;
                    break;
                case ContentionStop when kinds.HasFlag(ProfileKinds.Mutex) && kind.Version >= 1:
                    // ContentionFlags, ClrInstanceID, DurationNs.
                    if (_waiting.Remove(record.ThreadId, out var stack))
                        _mutex.Add(new Sample(stack, 1, (long)BinaryPrimitives.ReadDoubleLittleEndian(payload[3..]), null, record.ThreadId, record.Timestamp));
                    break;
                case WaitHandleWaitStart when kinds.HasFlag(ProfileKinds.Block):
                    _blocking.Begin(record.ThreadId, record.Timestamp, record.Stack, task: false);
                    break;
                case WaitHandleWaitStop when kinds.HasFlag(ProfileKinds.Block):
                    _blocking.End(record.ThreadId, record.Timestamp, record.Stack, task: false);
                    break;
                case ExceptionThrown when kinds.HasFlag(ProfileKinds.Exceptions) && record.Stack >= 0:
                    // ExceptionType, ExceptionMessage, ….
                    var type = Utf16.Read(ref payload);
                    _exceptions.Add(new Sample(record.Stack, 1, 0, _exceptionTypes.TryGetValue(type, out var known) ? known : _exceptionTypes[type] = type, record.ThreadId, record.Timestamp));
                    break;
            }
        }

        private void OnThreadSample(in TraceEventRecord record) =>
            // Waiting threads are sampled too (External): CPU counts only threads running managed code; wall time both.
            _threadSamples.Add(record.ThreadId, record.Timestamp, record.Stack, managed: BinaryPrimitives.ReadInt32LittleEndian(record.Payload) == ManagedSample);

        /// <summary>AllocationKind, ClrInstanceID, TypeID, TypeName, Address, ObjectSize, SampledByteOffset.</summary>
        private void OnAllocationSampled(in TraceEventRecord record, ReadOnlySpan<byte> payload)
        {
            var stack = record.Stack;
            var type = TypeName(BinaryPrimitives.ReadUInt64LittleEndian(payload[6..]), payload[14..], out var afterName);
            var objectSize = BinaryPrimitives.ReadInt64LittleEndian(afterName[8..]);
            if (objectSize <= 0 || stack < 0)
                return;
            // An object of s bytes is sampled with probability 1 - (1 - 1/mean)^s: each sample stands for 1/p
            // such objects.
            var size = (double)objectSize;
            var probability = -double.ExpM1(size * double.LogP1(-1 / AllocationSamplingMean));
            _heap.Add(new Sample(stack, (long)Math.Round(1 / probability), (long)Math.Round(size / probability), type, record.ThreadId, record.Timestamp));
        }

        /// <summary>Version 4: AllocationAmount, AllocationKind, ClrInstanceID, AllocationAmount64, TypeID, TypeName, HeapIndex, Address, ObjectSize.</summary>
        private void OnAllocationTick(in TraceEventRecord record, ReadOnlySpan<byte> payload)
        {
            var stack = record.Stack;
            var amount = BinaryPrimitives.ReadInt64LittleEndian(payload[10..]);
            var type = TypeName(BinaryPrimitives.ReadUInt64LittleEndian(payload[18..]), payload[26..], out var afterName);
            var objectSize = BinaryPrimitives.ReadInt64LittleEndian(afterName[12..]);
            if (amount <= 0 || stack < 0)
                return;
            // A tick stands for the ~100 KB allocated since the previous one, charged to the object that crossed it.
            _allocationTicks.Add(new Sample(stack, objectSize > 0 ? Math.Max(1, amount / objectSize) : 1, amount, type, record.ThreadId, record.Timestamp));
        }

        /// <summary>The type's name, read from the payload the first time its id is seen.</summary>
        private string TypeName(ulong typeId, ReadOnlySpan<byte> name, out ReadOnlySpan<byte> afterName)
        {
            afterName = name;
            if (_typeNames.TryGetValue(typeId, out var known))
            {
                Utf16.Skip(ref afterName);
                return known;
            }

            return _typeNames[typeId] = Utf16.Read(ref afterName);
        }

        /// <param name="cpuNanoseconds">The process's CPU time over the window, when it could be read.</param>
        /// <param name="spans">The spans the process's threads were in over the window (in process), or null.</param>
        public IReadOnlyList<RecordedProfile> Build(NetTraceReader reader, DateTimeOffset start, TimeSpan duration, long? cpuNanoseconds, SpanLookup? spans)
        {
            _spans = spans;
            var nanosecondsPerTick = 1e9 / reader.TicksPerSecond;
            using var frames = new StackFrames(reader.Stacks, _code, selfProfiling: processId == Environment.ProcessId);
            var profiles = new List<RecordedProfile>(6);
            if (kinds.HasFlag(ProfileKinds.Cpu)
                && Fill(new ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")], ("cpu", "nanoseconds"), 1_000_000), ThreadSampled(running: true), frames, cpu: true) is { SampleCount: > 0 } cpu)
            {
                // Each sample's interval since the thread's previous one counts time the thread was not on a
                // CPU (2.5 cores on a 2-core machine); the kernel's count of the window's CPU is the total.
                if (cpuNanoseconds is > 0)
                    cpu.ScaleTo(1, cpuNanoseconds.Value);
                profiles.Add(new RecordedProfile(ProfileType.Cpu, cpu.Build(start, duration)));
            }

            // Wall time is each sample's interval as it is: the threads' time, not the CPU's, so not scaled.
            if (kinds.HasFlag(ProfileKinds.Wall)
                && Fill(new ProfileBuilder([("samples", "count"), ("wall", "nanoseconds")], ("wall", "nanoseconds"), 1_000_000), ThreadSampled(running: false), frames, wall: true) is { SampleCount: > 0 } wall)
                profiles.Add(new RecordedProfile(ProfileType.Wall, wall.Build(start, duration)));

            // A runtime that sends AllocationSampled (.NET 10+) is measured by it; older ones only send ticks.
            var heap = _heap.Count > 0 ? Fill(HeapBuilder((long)AllocationSamplingMean), _heap, frames) : Fill(HeapBuilder(100 * 1024), _allocationTicks, frames);
            if (heap.SampleCount > 0)
                profiles.Add(new RecordedProfile(ProfileType.Heap, heap.Build(start, duration)));
            if (Fill(ContentionBuilder(), _mutex, frames) is { SampleCount: > 0 } mutex)
                profiles.Add(new RecordedProfile(ProfileType.Mutex, mutex.Build(start, duration)));
            var blocking = _blocking.Build().Select(w => new Sample(w.Stack, 1, (long)(w.Ticks * nanosecondsPerTick), null, w.Thread, w.Since));
            if (Fill(ContentionBuilder(), blocking, frames, block: true) is { SampleCount: > 0 } block)
                profiles.Add(new RecordedProfile(ProfileType.Block, block.Build(start, duration)));
            if (Fill(new ProfileBuilder([("exceptions", "count")], ("exceptions", "count"), 1), _exceptions, frames) is { SampleCount: > 0 } exceptions)
                profiles.Add(new RecordedProfile(ProfileType.Other, exceptions.Build(start, duration)));
            return profiles;

            // The thread samples as CPU's (those running managed code) or wall time's (all, labelled by state), each
            // with its interval in nanoseconds: a thread's first stands for a millisecond, none for more than a second.
            IEnumerable<Sample> ThreadSampled(bool running) =>
                from s in _threadSamples.All()
                where !running || !s.Waiting
                select new Sample(s.Stack, 1, s.Interval < 0 ? 1_000_000 : (long)Math.Min(s.Interval * nanosecondsPerTick, 1e9),
                    running ? null : s.Waiting ? Waiting : Running, s.ThreadId, s.Time);
        }

        public void Dispose() => _threadSamples.Dispose();

        private static ProfileBuilder HeapBuilder(long period) =>
            new([("alloc_objects", "count"), ("alloc_space", "bytes")], ("space", "bytes"), period);

        /// <summary>Go's contention profile shape, for mutex and block alike: waits counted and their delay.</summary>
        private static ProfileBuilder ContentionBuilder() =>
            new([("contentions", "count"), ("delay", "nanoseconds")], ("contentions", "count"), 1);

        /// <summary>A sample's stack and labels: samples alike are summed before they reach the builder.</summary>
        private readonly record struct SampleKey(int Stack, string? Type, ThreadPoolState ThreadPool, SpanLabels? Span, string? ThreadName);

        private ProfileBuilder Fill(ProfileBuilder builder, IEnumerable<Sample> samples, StackFrames frames, bool cpu = false, bool wall = false, bool block = false)
        {
            // A wall window holds about a thousand samples a second per thread, mostly repeats; the builder keys each
            // by a string of its locations and labels, so they are summed by stack and labels first.
            var alike = new Dictionary<SampleKey, (long First, long Second)>();
            foreach (var sample in samples)
            {
                var key = new SampleKey(sample.Stack, sample.Type, wall || block ? _threadPool.At(sample.Time) : default, _spans?.At(sample.Thread, sample.Time),
                    wall || block ? ThreadName(sample.Thread) : null);
                ref var sum = ref CollectionsMarshal.GetValueRefOrAddDefault(alike, key, out _);
                sum = (sum.First + sample.First, sum.Second + sample.Second);
            }

            var values = builder.SampleTypeCount == 1 ? new long[1] : new long[2];
            foreach (var (key, sum) in alike)
            {
                if (frames.Of(key.Stack) is not { Count: > 0 } stack)
                    continue;
                _labels.Clear();
                if (wall)
                {
                    // A thread the runtime saw in managed code but at a waiting method's frame was waiting.
                    _labels.Add(new("state", key.Type == Running && IsWait(stack[0].Function) ? Waiting : key.Type!));
                }
                else if (key.Type is not null)
                    _labels.Add(new("type", key.Type));

                if (block)
                {
                    // TPL's events are written from the waiting call: its frames writing them are not the wait.
                    var writing = 0;
                    while (writing < stack.Count - 1 && IsEventWriting(stack[writing].Function))
                        writing++;
                    stack = stack.Slice(writing);
                    // The runtime's own threads waiting for work (the timer's, the thread pool's gate and idle
                    // workers) have nothing but System.Threading on their stacks: not the app blocking.
                    if (stack.All(f => f.Function.StartsWith("System.Threading.", StringComparison.Ordinal)))
                        continue;
                }

                if (cpu)
                {
                    // A thread sampled in a waiting method was blocked, not on a CPU.
                    if (IsWait(stack[0].Function))
                        continue;
                    // The thread was stopped at a GC poll: charge its caller.
                    if (stack.Count > 1 && stack[0].Function.Contains("PollGC", StringComparison.Ordinal))
                        stack = stack.Slice(1);
                }

                if (key.ThreadName is not null)
                    _labels.Add(new("thread_name", key.ThreadName));
                key.ThreadPool.AddTo(_labels);
                if (key.Span is { } span)
                    _labels.AddRange(span.Labels);
                values[0] = sum.First;
                if (values.Length > 1)
                    values[1] = sum.Second;
                builder.Add(stack, values, CollectionsMarshal.AsSpan(_labels));
            }

            return builder;
        }

        /// <summary>A thread's name, read once as the window's profiles are built (a thread gone by then has none).</summary>
        private string? ThreadName(long thread) =>
            _threadNames.TryGetValue(thread, out var name) ? name : _threadNames[thread] = ThreadNames.Read(processId, thread);

        private static bool IsEventWriting(string function) =>
            function.StartsWith("System.Diagnostics.Tracing.", StringComparison.Ordinal)
            || function.StartsWith("System.Threading.Tasks.TplEventSource.", StringComparison.Ordinal);

        private static bool IsWait(string leaf) =>
            leaf.StartsWith("System.Threading.Thread.Sleep", StringComparison.Ordinal)
            || leaf.StartsWith("System.Threading.Thread.Join", StringComparison.Ordinal)
            || leaf.StartsWith("System.Threading.Monitor.Wait", StringComparison.Ordinal)
            || leaf.StartsWith("System.Threading.WaitHandle.Wait", StringComparison.Ordinal)
            || leaf.StartsWith("System.Threading.LowLevel", StringComparison.Ordinal)
            || leaf.StartsWith("System.Threading.PortableThreadPool+WorkerThread.WorkerThreadStart", StringComparison.Ordinal)
            // The finalizer thread's loop (managed since .NET 10) waiting for the next finalizable object: seen as
            // managed code while it waits, up to a fifth of HotApp's CPU samples in a window that had one core's CPU.
            || leaf == "System.GC.RunFinalizers"
            || leaf.StartsWith("System.Threading.PortableThreadPool+GateThread.GateThreadStart", StringComparison.Ordinal)
            || leaf.StartsWith("System.Net.Sockets.SocketAsyncEngine.EventLoop", StringComparison.Ordinal);
    }

    /// <summary>
    /// Stacks as frames, each worked out once (names, source files) however many samples share it: managed
    /// frames only, leaf first; none for a stack of the agent's own work in this process (reading events,
    /// uploading).
    /// </summary>
    private sealed class StackFrames(IReadOnlyList<ulong[]> stacks, ManagedCode code, bool selfProfiling) : IDisposable
    {
        private readonly Dictionary<int, ArraySegment<ProfileFrame>> _frames = [];
        private readonly MethodSources _sources = new();
        private readonly List<ProfileFrame> _scratch = new(64);

        public ArraySegment<ProfileFrame> Of(int stack)
        {
            if (_frames.TryGetValue(stack, out var known))
                return known;
            _scratch.Clear();
            var addresses = stacks[stack];
            for (var i = 0; i < addresses.Length; i++)
            {
                // A caller's address is where it returns to, which may be just past its method's end or its
                // call's statement: the byte before it is in the call.
                if (code.Find(i == 0 ? addresses[i] : addresses[i] - 1, out var ilOffset) is not { } method)
                    continue;
                var frame = Frame(method, ilOffset);
                if (selfProfiling && IsAgentFrame(frame.Function))
                {
                    _scratch.Clear();
                    break;
                }

                _scratch.Add(frame);
            }

            return _frames[stack] = _scratch.ToArray();
        }

        private ProfileFrame Frame(ManagedCode.Method method, int ilOffset)
        {
            var source = _sources.Find(code.ModulePath(method.Module), method.Token); // remembered there, per method
            return source is null
                ? new ProfileFrame(method.Name)
                : new ProfileFrame(method.Name, source.File, source.StartLine, ilOffset < 0 ? 0 : source.LineAt(ilOffset));
        }

        private static bool IsAgentFrame(string name) =>
            name.StartsWith("Microsoft.Diagnostics.", StringComparison.Ordinal)
            || name.StartsWith(typeof(ProfileSession).FullName!, StringComparison.Ordinal)
            || name.StartsWith(typeof(ProfileUploader).FullName!, StringComparison.Ordinal)
            || name.StartsWith(typeof(NetTraceReader).Namespace!, StringComparison.Ordinal);

        public void Dispose() => _sources.Dispose();
    }
}
