using Hotpath.Pprof;
using Hotpath.Pprof.Proto;
using Microsoft.Diagnostics.NETCore.Client;

namespace Hotpath.Agent.Perf;

/// <summary>
/// Continuous CPU profiles of processes through the kernel's perf events: a <c>cpu-clock</c> event on every
/// CPU samples whatever runs there at a fixed rate (99 Hz by default) and walks its user stack by frame
/// pointers, which .NET's JIT-compiled code keeps; nothing runs in the profiled process. A reader thread
/// drains the rings every 50 ms and counts the stacks of the processes asked for; <see cref="Cut"/> turns
/// what was counted since the last cut into one pprof per process (<c>samples/count</c>,
/// <c>cpu/nanoseconds</c>: each sample weighs the CPU time since the CPU's previous sample, so the total is
/// the process's CPU time). System-wide events need root, CAP_PERFMON or <c>perf_event_paranoid</c> &lt;= 0.
/// </summary>
public sealed class PerfCpuSampler : IDisposable
{
    public const int DefaultFrequency = 99;

    private readonly PerfRing[] _rings;
    private readonly Sink _sink;
    private readonly Thread _reader;
    private readonly CancellationTokenSource _stop = new();
    private readonly int _frequency;
    private DateTimeOffset _since = DateTimeOffset.UtcNow;
    /// <summary>Each process's CPU time at the last cut; null until it could be read.</summary>
    private readonly Dictionary<int, long?> _cpuAtCut = [];

    private PerfCpuSampler(PerfRing[] rings, IReadOnlyCollection<int> processes, int frequency)
    {
        _rings = rings;
        _frequency = frequency;
        _sink = new Sink(processes);
        foreach (var pid in processes)
            _cpuAtCut[pid] = ProcessCpuTime.Nanoseconds(pid);
        _reader = new Thread(Read) { IsBackground = true, Name = "hotpath-perf-reader" };
        _reader.Start();
    }

    /// <summary>Samples the processes' stacks from now on too (a process found after the start).</summary>
    public void Track(int processId)
    {
        lock (_cpuAtCut)
            _cpuAtCut.TryAdd(processId, ProcessCpuTime.Nanoseconds(processId));
        _sink.Track(processId);
    }

    /// <summary>Drops a process (gone, or no longer wanted) and what was counted of it.</summary>
    public void Untrack(int processId)
    {
        lock (_cpuAtCut)
            _cpuAtCut.Remove(processId);
        _sink.Untrack(processId);
    }

    /// <summary>Samples lost because a ring was full when the kernel wrote (the reader fell behind).</summary>
    public long Lost => Interlocked.Read(ref _sink.LostSamples);

    /// <summary>
    /// Starts sampling every CPU for <paramref name="processes"/>; null, with the kernel's reason in
    /// <paramref name="refusal"/>, when perf events are not available to this process (no privilege, no
    /// Linux, a kernel without them).
    /// </summary>
    public static PerfCpuSampler? TryStart(IReadOnlyCollection<int> processes, int frequency, out string refusal)
    {
        ArgumentNullException.ThrowIfNull(processes);
        ArgumentOutOfRangeException.ThrowIfLessThan(frequency, 1);
        if (!OperatingSystem.IsLinux())
        {
            refusal = "perf events are Linux's";
            return null;
        }

        var rings = new List<PerfRing>();
        for (var cpu = 0; cpu < Environment.ProcessorCount; cpu++)
        {
            if (PerfRing.Open(cpu, frequency, dataPages: 64, out var errno) is { } ring)
            {
                rings.Add(ring);
                continue;
            }

            foreach (var opened in rings)
                opened.Dispose();
            refusal = errno switch
            {
                1 or 13 => $"perf_event_open refused (errno {errno}): system-wide CPU sampling needs root, CAP_PERFMON or kernel.perf_event_paranoid <= 0 (it is {Paranoid()})",
                2 or 38 or 95 => $"this kernel has no perf events (errno {errno})",
                _ => $"perf_event_open failed on CPU {cpu} (errno {errno})",
            };
            return null;
        }

        refusal = "";
        return new PerfCpuSampler([.. rings], processes, frequency);
    }

    /// <summary>
    /// Turns the target's runtime perf map on through its diagnostic port, so that JIT-compiled frames have
    /// names; false with the reason when the process cannot be reached that way.
    /// </summary>
    public static bool TryEnablePerfMap(int processId, out string reason)
    {
        try
        {
            new DiagnosticsClient(processId).EnablePerfMap(PerfMapType.PerfMap);
            reason = "";
            return true;
        }
        catch (Exception e) when (IsUnreachable(e))
        {
            reason = e.Message;
            return false;
        }
    }

    /// <summary>
    /// Whether the process's runtime writes its perf map already (its environment's DOTNET_PerfMapEnabled, or
    /// another tool turned it on): it then holds the file open, and is left as it was found.
    /// </summary>
    public static bool IsPerfMapOn(int processId)
    {
        var perfMap = ProcessSymbols.PerfMapPath(processId);
        try
        {
            return Directory.EnumerateFileSystemEntries($"/proc/{processId}/fd").Any(fd => new FileInfo(fd).LinkTarget == perfMap);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // gone, or not this user's: nothing to leave as it was
        }
    }

    /// <summary>
    /// Undoes <see cref="TryEnablePerfMap"/>: turns the perf map off in a process still running, and deletes the
    /// file, which the runtime leaves behind (one per process profiled: with <c>--all</c> on a host of
    /// short-lived processes, /tmp would fill up).
    /// </summary>
    public static void ReleasePerfMap(int processId)
    {
        try
        {
            new DiagnosticsClient(processId).DisablePerfMap();
        }
        catch (Exception e) when (IsUnreachable(e))
        {
            // Gone, or no longer reachable: its file is deleted all the same.
        }

        try
        {
            File.Delete(ProcessSymbols.PerfMapPath(processId));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not ours to delete after all; it stays.
        }
    }

    /// <summary>What the diagnostic port answers for a process that is gone, not this user's, or whose runtime lacks the command.</summary>
    private static bool IsUnreachable(Exception e) =>
        e is ServerNotAvailableException or ServerErrorException or UnsupportedCommandException or ArgumentException or UnauthorizedAccessException or IOException;

    /// <summary>What was sampled of each process since the last cut, as a pprof CPU profile (none for a process with no samples).</summary>
    public IReadOnlyList<(int ProcessId, Profile Profile)> Cut()
    {
        DrainAll();
        var now = DateTimeOffset.UtcNow;
        var since = _since;
        _since = now;
        // The kernel's count of each process's CPU time since the last cut: the profile's total. The samples'
        // periods only estimate it (the kernel retunes them to keep the frequency; seen 17% high on a busy machine).
        var cpuUsed = new Dictionary<int, long>();
        lock (_cpuAtCut)
        {
            foreach (var pid in _cpuAtCut.Keys.ToArray())
            {
                if (ProcessCpuTime.Nanoseconds(pid) is not { } cpu)
                    continue;
                // Without a reading at the last cut there is no count for this one, only a start for the next.
                if (_cpuAtCut[pid] is { } before)
                    cpuUsed[pid] = cpu - before;
                _cpuAtCut[pid] = cpu;
            }
        }

        var profiles = new List<(int, Profile)>();
        foreach (var (pid, stacks) in _sink.TakeAll())
        {
            if (stacks.Count == 0)
                continue;
            var symbols = _sink.Symbols(pid);
            symbols.Refresh();
            var builder = new ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")], ("cpu", "nanoseconds"), 1_000_000_000L / _frequency);
            var frames = new List<ProfileFrame>(64);
            foreach (var (stack, (count, nanos)) in stacks)
            {
                frames.Clear();
                for (var i = 0; i < stack.Addresses.Length; i++)
                    frames.Add(symbols.Resolve(stack.Addresses[i], returnAddress: i > 0));
                builder.Add(frames, [count, nanos]);
            }

            if (cpuUsed.GetValueOrDefault(pid) is > 0 and var used)
                builder.ScaleTo(1, used);

            profiles.Add((pid, builder.Build(since, now - since)));
        }

        return profiles;
    }

    private void Read()
    {
        while (!_stop.IsCancellationRequested)
        {
            DrainAll();
            _stop.Token.WaitHandle.WaitOne(50);
        }
    }

    private void DrainAll()
    {
        lock (_rings)
        {
            foreach (var ring in _rings)
                ring.Drain(_sink);
        }
    }

    private static string Paranoid()
    {
        try
        {
            return File.ReadAllText("/proc/sys/kernel/perf_event_paranoid").Trim();
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _reader.Join();
        lock (_rings)
        {
            foreach (var ring in _rings)
                ring.Dispose();
        }

        _stop.Dispose();
        _sink.Dispose();
    }

    /// <summary>A stack of addresses (leaf first), compared by value.</summary>
    private readonly struct Stack(ulong[] addresses, int hash) : IEquatable<Stack>
    {
        public ulong[] Addresses { get; } = addresses;

        public bool Equals(Stack other) => hash == other.GetHashCode() && Addresses.AsSpan().SequenceEqual(other.Addresses);

        public override bool Equals(object? obj) => obj is Stack other && Equals(other);

        public override int GetHashCode() => hash;
    }

    /// <summary>Counts the samples of the processes asked for, by stack; everything else is dropped at once.</summary>
    private sealed class Sink(IReadOnlyCollection<int> processes) : IPerfSampleSink, IDisposable
    {
        private readonly HashSet<int> _processes = [.. processes];
        private readonly Dictionary<int, Dictionary<Stack, (long Count, long Nanos)>> _stacks = [];
        private readonly Dictionary<int, ProcessSymbols> _symbols = [];
        public long LostSamples;

        public void Track(int pid)
        {
            lock (_stacks)
                _processes.Add(pid);
        }

        public void Untrack(int pid)
        {
            lock (_stacks)
            {
                _processes.Remove(pid);
                _stacks.Remove(pid);
                if (_symbols.Remove(pid, out var symbols))
                    symbols.Dispose();
            }
        }

        public void Add(int pid, int tid, ulong periodNanos, ReadOnlySpan<ulong> callchain)
        {
            lock (_stacks)
            {
                if (!_processes.Contains(pid))
                    return;
            }

            // Context markers (PERF_CONTEXT_USER) are not frames.
            var frames = 0;
            foreach (var address in callchain)
            {
                if (address < PerfNative.ContextMax)
                    frames++;
            }

            var addresses = new ulong[frames];
            var hash = new HashCode();
            var at = 0;
            foreach (var address in callchain)
            {
                if (address >= PerfNative.ContextMax)
                    continue;
                addresses[at++] = address;
                hash.Add(address);
            }

            lock (_stacks)
            {
                if (!_stacks.TryGetValue(pid, out var stacks))
                    _stacks[pid] = stacks = [];
                var key = new Stack(addresses, hash.ToHashCode());
                var (count, nanos) = stacks.GetValueOrDefault(key);
                stacks[key] = (count + 1, nanos + (long)Math.Min(periodNanos, long.MaxValue / 2));
            }
        }

        public void Lost(ulong samples) => Interlocked.Add(ref LostSamples, (long)samples);

        public List<(int Pid, Dictionary<Stack, (long Count, long Nanos)> Stacks)> TakeAll()
        {
            lock (_stacks)
            {
                var taken = _stacks.Select(s => (s.Key, s.Value)).ToList();
                _stacks.Clear();
                return taken;
            }
        }

        public ProcessSymbols Symbols(int pid)
        {
            lock (_stacks)
            {
                if (!_symbols.TryGetValue(pid, out var symbols))
                    _symbols[pid] = symbols = new ProcessSymbols(pid);
                return symbols;
            }
        }

        public void Dispose()
        {
            foreach (var symbols in _symbols.Values)
                symbols.Dispose();
        }
    }
}
