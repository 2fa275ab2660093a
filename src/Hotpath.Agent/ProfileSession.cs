using System.Diagnostics.Tracing;
using Hotpath.Pprof.Proto;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.EventPipe;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

namespace Hotpath.Agent;

/// <summary>One profile a recording window produced, with the profefe type it is stored as.</summary>
public sealed record RecordedProfile(string Type, Profile Profile);

/// <summary>
/// Records one window of a .NET process through EventPipe, streaming (no trace file), and turns it into pprof
/// profiles: <c>cpu</c> from the sample profiler, <c>heap</c> from sampled allocations, <c>mutex</c> from lock
/// contention, <c>other</c> from exceptions thrown. Method names come from a live TraceLog with the startup
/// rundown. One session serves every kind, so the rundown is paid once per window.
/// </summary>
public static class ProfileSession
{
    private const string RuntimeProvider = "Microsoft-Windows-DotNETRuntime";
    private const long GcKeyword = 0x1, LoaderKeyword = 0x8, JitKeyword = 0x10, ContentionKeyword = 0x4000,
        ExceptionKeyword = 0x8000, StackKeyword = 0x40000000, AllocationSamplingKeyword = 0x80000000000;

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
    public static Task<IReadOnlyList<RecordedProfile>> RecordAsync(int processId, ProfileKinds kinds, TimeSpan window, CancellationToken cancellationToken) =>
        RecordAsync(processId, kinds, window, allocationTicksOnly: false, cancellationToken);

    /// <param name="allocationTicksOnly">
    /// Measures allocations by GCAllocationTick alone, as on runtimes before .NET 10 (tests run the fallback with it).
    /// </param>
    internal static async Task<IReadOnlyList<RecordedProfile>> RecordAsync(int processId, ProfileKinds kinds, TimeSpan window, bool allocationTicksOnly, CancellationToken cancellationToken)
    {
        if (kinds == ProfileKinds.None)
            throw new ArgumentException("nothing to record", nameof(kinds));
        var client = new DiagnosticsClient(processId);
        var keywords = LoaderKeyword | JitKeyword | StackKeyword;
        if (kinds.HasFlag(ProfileKinds.Heap))
            keywords |= GcKeyword | (allocationTicksOnly ? 0 : AllocationSamplingKeyword); // GC for GCAllocationTick, the fallback before .NET 10
        if (kinds.HasFlag(ProfileKinds.Mutex))
            keywords |= ContentionKeyword;
        if (kinds.HasFlag(ProfileKinds.Exceptions))
            keywords |= ExceptionKeyword;
        var providers = new List<EventPipeProvider> { new(RuntimeProvider, EventLevel.Verbose, keywords) }; // Verbose: MethodLoadVerbose
        if (kinds.HasFlag(ProfileKinds.Cpu))
            providers.Add(new EventPipeProvider(SampleProfilerTraceEventParser.ProviderName, EventLevel.Informational));

        // The samples share the kernel's count of the CPU time (their intervals only estimate it).
        var cpuBefore = ProcessCpuTime.Nanoseconds(processId);
        var started = DateTimeOffset.UtcNow;
        using var session = client.StartEventPipeSession(providers, requestRundown: false, CircularBufferMegabytes);
        using var source = TraceLog.CreateFromEventPipeSession(session, TraceLog.EventPipeRundownConfiguration.Enable(client));
        using var recorder = new Recorder(source, kinds, selfProfiling: processId == Environment.ProcessId);

        var processing = Task.Factory.StartNew(source.Process, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            await Task.Delay(window, cancellationToken);
        }
        finally
        {
            await session.StopAsync(CancellationToken.None);
            await processing;
        }

        // The profile's period, from the session's start to its end, and the CPU time the kernel counted in it.
        var cpuUsed = ProcessCpuTime.Nanoseconds(processId) - cpuBefore;
        return recorder.Build(started, DateTimeOffset.UtcNow - started, cpuUsed);
    }

    /// <summary>
    /// The event handlers of one window, each subscribed through <see cref="NeverThrowing"/>: an exception
    /// escaping one would end Process() and hang Stop().
    /// </summary>
    private sealed class Recorder : IDisposable
    {
        private readonly TraceLogEventSource _source;
        private readonly bool _selfProfiling;
        private readonly PprofBuilder? _cpu;
        private readonly PprofBuilder? _heap;
        private readonly PprofBuilder? _allocationTicks;
        private readonly PprofBuilder? _mutex;
        private readonly PprofBuilder? _exceptions;
        private readonly Dictionary<int, (double Time, CallStackIndex WaitingAt)> _previousSample = [];
        private readonly Dictionary<int, ProfileFrame[]> _waiting = [];
        private readonly List<ProfileFrame> _frames = new(64);
        private readonly MethodSources _sources = new();
        private readonly Dictionary<CodeAddressIndex, ProfileFrame> _resolved = [];
        private double _lastTrim;

        public Recorder(TraceLogEventSource source, ProfileKinds kinds, bool selfProfiling)
        {
            _source = source;
            _selfProfiling = selfProfiling;
            if (kinds.HasFlag(ProfileKinds.Cpu))
            {
                _cpu = new PprofBuilder([("samples", "count"), ("cpu", "nanoseconds")], ("cpu", "nanoseconds"), 1_000_000);
                new SampleProfilerTraceEventParser(source).ThreadSample += NeverThrowing<ClrThreadSampleTraceData>(OnThreadSample);
            }

            if (kinds.HasFlag(ProfileKinds.Heap))
            {
                _heap = HeapBuilder((long)AllocationSamplingMean);
                _allocationTicks = HeapBuilder(100 * 1024);
                source.Clr.AllocationSampling += NeverThrowing<AllocationSampledTraceData>(OnAllocationSampled);
                source.Clr.GCAllocationTick += NeverThrowing<GCAllocationTickTraceData>(OnAllocationTick);
            }

            if (kinds.HasFlag(ProfileKinds.Mutex))
            {
                _mutex = new PprofBuilder([("contentions", "count"), ("delay", "nanoseconds")], ("contentions", "count"), 1);
                source.Clr.ContentionStart += NeverThrowing<ContentionStartTraceData>(OnContentionStart);
                source.Clr.ContentionStop += NeverThrowing<ContentionStopTraceData>(OnContentionStop);
            }

            if (kinds.HasFlag(ProfileKinds.Exceptions))
            {
                _exceptions = new PprofBuilder([("exceptions", "count")], ("exceptions", "count"), 1);
                source.Clr.ExceptionStart += NeverThrowing<ExceptionTraceData>(OnExceptionThrown);
            }
        }

        /// <summary>The handler, with whatever it throws swallowed: an event it cannot resolve is skipped.</summary>
        private static Action<T> NeverThrowing<T>(Action<T> handler) => e =>
        {
            try
            {
                handler(e);
            }
            catch (Exception)
            {
                // Skipped: a throw would end Process() and hang Stop().
            }
        };

        private static PprofBuilder HeapBuilder(long period) =>
            new([("alloc_objects", "count"), ("alloc_space", "bytes")], ("space", "bytes"), period);

        /// <param name="cpuNanoseconds">The process's CPU time over the window, when it could be read.</param>
        public IReadOnlyList<RecordedProfile> Build(DateTimeOffset start, TimeSpan duration, long? cpuNanoseconds)
        {
            var profiles = new List<RecordedProfile>(4);
            if (_cpu is { SampleCount: > 0 })
            {
                // Each sample's interval since the thread's previous one counts time the thread was not on a
                // CPU (2.5 cores on a 2-core machine); the kernel's count of the window's CPU is the total.
                if (cpuNanoseconds is > 0)
                    _cpu.ScaleTo(1, cpuNanoseconds.Value);
                profiles.Add(new RecordedProfile("cpu", _cpu.Build(start, duration)));
            }
            // A runtime that sends AllocationSampled (.NET 10+) is measured by it; older ones only send ticks.
            if ((_heap is { SampleCount: > 0 } ? _heap : _allocationTicks) is { SampleCount: > 0 } heap)
                profiles.Add(new RecordedProfile("heap", heap.Build(start, duration)));
            if (_mutex is { SampleCount: > 0 })
                profiles.Add(new RecordedProfile("mutex", _mutex.Build(start, duration)));
            if (_exceptions is { SampleCount: > 0 })
                profiles.Add(new RecordedProfile("other", _exceptions.Build(start, duration)));
            return profiles;
        }

        public void Dispose() => _sources.Dispose();

        private void OnThreadSample(ClrThreadSampleTraceData e)
        {
            var now = e.TimeStampRelativeMSec;
            var stack = e.CallStackIndex();
            var previous = _previousSample.TryGetValue(e.ThreadID, out var last) ? last : (Time: now - 1, WaitingAt: CallStackIndex.Invalid);
            var managed = e.Type == ClrThreadSampleType.Managed;
            _previousSample[e.ThreadID] = (now, managed ? CallStackIndex.Invalid : stack);
            // Waiting threads are sampled too (External): CPU counts only threads running managed code. A thread
            // that wakes while the sampler holds the runtime suspended is reported as running managed code, but
            // still at the stack it waited at, or at a waiting method's managed wrapper: time blocked, not CPU.
            if (!managed || (stack != CallStackIndex.Invalid && stack == previous.WaitingAt) || !ResolveStack(e) || IsWait(_frames[0].Function))
                return;
            var interval = now - previous.Time;
            // The thread was stopped at a GC poll: charge its caller.
            if (_frames.Count > 1 && _frames[0].Function.Contains("PollGC", StringComparison.Ordinal))
                _frames.RemoveAt(0);
            _cpu!.Add(_frames, [1, (long)(Math.Min(interval, 1000) * 1_000_000)]);
        }

        private void OnAllocationSampled(AllocationSampledTraceData e)
        {
            if (e.ObjectSize <= 0 || !ResolveStack(e))
                return;
            // An object of s bytes is sampled with probability 1 - (1 - 1/mean)^s: each sample stands for 1/p
            // such objects.
            var size = (double)e.ObjectSize;
            var probability = -double.ExpM1(size * double.LogP1(-1 / AllocationSamplingMean));
            _heap!.Add(_frames, [(long)Math.Round(1 / probability), (long)Math.Round(size / probability)], "type", e.TypeName);
        }

        private void OnAllocationTick(GCAllocationTickTraceData e)
        {
            if (e.AllocationAmount64 <= 0 || !ResolveStack(e))
                return;
            // A tick stands for the ~100 KB allocated since the previous one, charged to the object that crossed it.
            var objects = e.ObjectSize > 0 ? Math.Max(1, e.AllocationAmount64 / e.ObjectSize) : 1;
            _allocationTicks!.Add(_frames, [objects, e.AllocationAmount64], "type", e.TypeName);
        }

        private void OnContentionStart(ContentionStartTraceData e)
        {
            if (ResolveStack(e))
                _waiting[e.ThreadID] = [.. _frames];
        }

        private void OnContentionStop(ContentionStopTraceData e)
        {
            if (_waiting.Remove(e.ThreadID, out var frames))
                _mutex!.Add(frames, [1, (long)e.DurationNs]);
        }

        private void OnExceptionThrown(ExceptionTraceData e)
        {
            if (ResolveStack(e))
                _exceptions!.Add(_frames, [1], "type", e.ExceptionType);
        }

        /// <summary>
        /// The event's managed stack into <see cref="_frames"/>, leaf first, without signatures, with source files
        /// where the assemblies have PDBs; false when it has none, or when it is the agent's own work in this
        /// process (reading events, uploading).
        /// </summary>
        private bool ResolveStack(TraceEvent e)
        {
            _frames.Clear();
            for (var stackFrame = e.CallStack(); stackFrame is not null; stackFrame = stackFrame.Caller)
            {
                if (Resolve(stackFrame.CodeAddress) is not { } frame)
                    continue;
                if (_selfProfiling && IsAgentFrame(frame.Function))
                    return false;
                _frames.Add(frame);
            }

            TrimNowAndThen(e.TimeStampRelativeMSec);
            return _frames.Count > 0;
        }

        /// <summary>
        /// A code address as a frame, worked out once per address (name, signature cut, source file) rather than
        /// at every sample that passes through it; null while its method is unnamed, and then not remembered, as
        /// the method's load event can come after the first samples in it.
        /// </summary>
        private ProfileFrame? Resolve(TraceCodeAddress address)
        {
            if (_resolved.TryGetValue(address.CodeAddressIndex, out var known))
                return known;
            var name = address.FullMethodName;
            if (string.IsNullOrEmpty(name))
                return null;
            var paren = name.IndexOf('(', StringComparison.Ordinal);
            var method = address.Method;
            var source = method is null ? null : _sources.Find(method.MethodModuleFile?.FilePath, method.MethodToken);
            // "Shop.Cart.Total(int32)" → "Shop.Cart.Total"
            var frame = new ProfileFrame(paren > 0 ? name[..paren] : name, source?.File, source?.Line ?? 0);
            _resolved[address.CodeAddressIndex] = frame;
            return frame;
        }

        private static bool IsWait(string leaf) =>
            leaf.StartsWith("System.Threading.Thread.Sleep", StringComparison.Ordinal)
            || leaf.StartsWith("System.Threading.Thread.Join", StringComparison.Ordinal)
            || leaf.StartsWith("System.Threading.Monitor.Wait", StringComparison.Ordinal)
            || leaf.StartsWith("System.Threading.WaitHandle.Wait", StringComparison.Ordinal)
            || leaf.StartsWith("System.Threading.LowLevel", StringComparison.Ordinal)
            || leaf.StartsWith("System.Threading.PortableThreadPool+WorkerThread.WorkerThreadStart", StringComparison.Ordinal)
            || leaf.StartsWith("System.Threading.PortableThreadPool+GateThread.GateThreadStart", StringComparison.Ordinal)
            || leaf.StartsWith("System.Net.Sockets.SocketAsyncEngine.EventLoop", StringComparison.Ordinal);

        private static bool IsAgentFrame(string name) =>
            name.StartsWith("Microsoft.Diagnostics.", StringComparison.Ordinal)
            || name.StartsWith(typeof(ProfileSession).FullName!, StringComparison.Ordinal)
            || name.StartsWith(typeof(ProfileUploader).FullName!, StringComparison.Ordinal);

        /// <summary>The live TraceLog keeps every stack it has seen unless trimmed from inside a callback now and then.</summary>
        private void TrimNowAndThen(double now)
        {
            if (now - _lastTrim < 2_000)
                return;
            _lastTrim = now;
            _source.TraceLog.TrimLiveSessionState();
            // Trimming may hand the indexes out again to other addresses.
            _resolved.Clear();
        }
    }
}
