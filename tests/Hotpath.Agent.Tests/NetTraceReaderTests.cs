using System.Buffers.Binary;
using System.Diagnostics.Tracing;
using System.Runtime.CompilerServices;
using System.Text;
using Hotpath.Agent.EventPipe;
using Hotpath.Testing;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing.Etlx;

namespace Hotpath.Agent.Tests;

/// <summary>The agent's NetTrace reader on a real session's stream, checked against TraceEvent's reading of the same bytes.</summary>
[Trait(TestCategory.Trait, TestCategory.Sampling)]
[Collection("sampling")]
public sealed class NetTraceReaderTests
{
    private const string SampleProfiler = "Microsoft-DotNETCore-SampleProfiler";

    /// <summary>Two seconds of this process with a busy thread (sampled stacks, GC and contention events, the rundown), as the runtime sent them.</summary>
    private static async Task<byte[]> RecordAsync()
    {
        using var stop = new CancellationTokenSource();
        var busy = new Thread(() => ProfileSessionTests.BurnCpu(stop.Token)) { IsBackground = true };
        busy.Start();
        try
        {
            var client = new DiagnosticsClient(Environment.ProcessId);
            EventPipeProvider[] providers =
            [
                new(ManagedCode.RuntimeProvider, EventLevel.Verbose, 0x1 | 0x4000 | 0x40000000),
                new(SampleProfiler, EventLevel.Informational),
            ];
            using var session = client.StartEventPipeSession(providers, requestRundown: true, 16);
            using var copy = new MemoryStream();
            var copying = session.EventStream.CopyToAsync(copy);
            await Task.Delay(TimeSpan.FromSeconds(2));
            await session.StopAsync(CancellationToken.None);
            await copying.WaitAsync(TimeSpan.FromSeconds(60));
            return copy.ToArray();
        }
        finally
        {
            await stop.CancelAsync();
            busy.Join();
        }
    }

    private static async Task<List<(string Provider, int Id, int Thread, string Stack)>> ReadAsync(byte[] trace, ManagedCode? code = null)
    {
        var events = new List<(string, int, int, string)>();
        NetTraceReader? reader = null;
        void OnEvent(in TraceEventRecord e)
        {
            events.Add((e.Kind.Provider, e.Kind.Id, (int)e.ThreadId, e.Stack < 0 ? "" : string.Join(',', reader!.Stacks[e.Stack])));
            code?.TryAdd(e);
        }

        using (reader = new NetTraceReader(new MemoryStream(trace), OnEvent))
            await reader.ReadAsync(CancellationToken.None);
        return events;
    }

    [Fact]
    public async Task Reads_the_same_events_with_the_same_stacks_as_TraceEvent_from_a_real_session()
    {
        var trace = await RecordAsync();
        var code = new ManagedCode();
        var ours = (await ReadAsync(trace, code)).Where(e => IsRecorded(e.Provider)).ToList();

        var path = Path.Combine(Path.GetTempPath(), $"hotpath-{Guid.NewGuid():N}.nettrace");
        await File.WriteAllBytesAsync(path, trace);
        try
        {
            using var log = new TraceLog(TraceLog.CreateFromEventPipeDataFile(path, path + ".etlx"));
            // TraceLog takes the rundown's method events into its tables instead of listing them: the names it
            // gives the sampled frames are what the agent's reading of them must give too.
            var named = log.Events.Where(e => e.ProviderName == SampleProfiler)
                .SelectMany(e => Frames(e.CallStack()))
                .Where(f => !string.IsNullOrEmpty(f.FullMethodName))
                .DistinctBy(f => f.Address)
                .ToList();
            Assert.NotEmpty(named);
            Assert.All(named, f => Assert.Equal(f.FullMethodName.Split('(')[0], code.Find(f.Address, out _)?.Name));

            var theirs = log.Events
                .Where(e => IsRecorded(e.ProviderName))
                .Select(e => (e.ProviderName, (int)e.ID, e.ThreadID, string.Join(',', Addresses(e.CallStack()))))
                .ToList();

            Assert.Contains(ours, e => e.Provider == SampleProfiler && e.Stack.Length > 0);
            // The events the agent takes, by provider and id, where the two disagree (TraceEvent numbers some
            // events it has no template for apart, and lists only some of the rundown's).
            var (expected, actual) = (Counts(theirs.Where(e => IsTaken(e.ProviderName, e.Item2))), Counts(ours.Where(e => IsTaken(e.Provider, e.Id))));
            Assert.Empty(expected.Keys.Union(actual.Keys).Where(k => expected.GetValueOrDefault(k) != actual.GetValueOrDefault(k))
                .Select(k => $"{k}: {expected.GetValueOrDefault(k)} read by TraceEvent, {actual.GetValueOrDefault(k)} by the agent"));
            // Every sampled stack, address by address, on the same thread.
            Assert.Equal(
                theirs.Where(e => e.ProviderName == SampleProfiler).Select(e => $"{e.ThreadID}:{e.Item4}").Order(StringComparer.Ordinal),
                ours.Where(e => e.Provider == SampleProfiler).Select(e => $"{e.Thread}:{e.Stack}").Order(StringComparer.Ordinal));
        }
        finally
        {
            File.Delete(path);
            File.Delete(path + ".etlx");
        }
    }

    /// <summary>ThreadSample; GCAllocationTick, ExceptionThrown, ContentionStart, ContentionStop, AllocationSampled.</summary>
    private static bool IsTaken(string provider, int id) =>
        provider == SampleProfiler ? id == 0 : provider == ManagedCode.RuntimeProvider && id is 10 or 80 or 81 or 91 or 303;

    private static bool IsRecorded(string provider) => provider is SampleProfiler or ManagedCode.RuntimeProvider or ManagedCode.RundownProvider;

    private static IEnumerable<TraceCodeAddress> Frames(TraceCallStack? frame)
    {
        for (; frame is not null; frame = frame.Caller)
            yield return frame.CodeAddress;
    }

    private static IEnumerable<ulong> Addresses(TraceCallStack? frame) => Frames(frame).Select(f => f.Address);

    private static SortedDictionary<string, int> Counts<T>(IEnumerable<T> events) where T : ITuple =>
        new(events.GroupBy(e => $"{e[0]}/{e[1]}").ToDictionary(g => g.Key, g => g.Count()), StringComparer.Ordinal);

    [Fact]
    public async Task A_stream_cut_short_ends_the_read_with_the_events_before_the_cut()
    {
        var trace = await RecordAsync();
        var whole = await ReadAsync(trace);

        var half = await ReadAsync(trace[..(trace.Length / 2)]);

        Assert.InRange(half.Count, 1, whole.Count - 1);
        Assert.Equal(whole.Take(half.Count), half);
    }

    [Fact]
    public async Task A_stream_that_is_not_nettrace_is_refused_with_a_format_error()
    {
        var error = await Assert.ThrowsAsync<FormatException>(() => ReadAsync(Encoding.UTF8.GetBytes("{\"not\": \"a trace at all, but long enough to have a header\"}")));
        Assert.Contains("not a NetTrace stream", error.Message, StringComparison.Ordinal);
    }

    /// <summary>The runtime's stop of a session waits for its stream to be read: a reader that gave up would hang it.</summary>
    [Fact]
    public async Task A_stream_the_reader_cannot_read_is_still_read_to_its_end()
    {
        var trace = await RecordAsync();
        var name = "StackBlock"u8.ToArray();
        var at = trace.AsSpan().IndexOf(name) + name.Length;
        trace[at] = 0x42; // where the type's closing tag belongs
        var stream = new MemoryStream(trace);

        using var reader = new NetTraceReader(stream, (in TraceEventRecord _) => { });
        var error = await Assert.ThrowsAsync<FormatException>(() => reader.ReadAsync(CancellationToken.None));

        Assert.Contains("StackBlock", error.Message, StringComparison.Ordinal);
        Assert.Equal(trace.Length, stream.Position);
    }

    [Fact]
    public async Task A_block_claiming_more_than_the_reader_allows_is_refused_before_it_is_read()
    {
        var trace = await RecordAsync();
        // The first block after the trace object: its size follows the type's closing tag.
        var name = "MetadataBlock"u8.ToArray();
        var at = trace.AsSpan().IndexOf(name) + name.Length + 1;
        BinaryPrimitives.WriteInt32LittleEndian(trace.AsSpan(at), int.MaxValue);

        var error = await Assert.ThrowsAsync<FormatException>(() => ReadAsync(trace));
        Assert.Contains($"a MetadataBlock of {int.MaxValue} bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_method_compiled_again_at_another_address_is_the_same_method_at_both()
    {
        var code = new ManagedCode();
        var kind = new EventKind(ManagedCode.RuntimeProvider, 143, 2); // MethodLoadVerbose
        code.TryAdd(new TraceEventRecord(kind, 1, 0, -1, MethodLoad(module: 7, start: 0x1000, size: 0x100, token: 0x06000001, "Shop.Cart", "Total")));
        code.TryAdd(new TraceEventRecord(kind, 1, 0, -1, MethodLoad(module: 7, start: 0x8000, size: 0x80, token: 0x06000001, "Shop.Cart", "Total")));
        code.TryAdd(new TraceEventRecord(kind, 1, 0, -1, MethodLoad(module: 7, start: 0x1100, size: 0x10, token: 0x06000002, "Shop.Cart", "Add")));

        Assert.Equal(new ManagedCode.Method("Shop.Cart.Total", 0x06000001, 7), code.Find(0x10ff, out _));
        Assert.Equal(code.Find(0x1000, out _), code.Find(0x807f, out _));
        Assert.Equal("Shop.Cart.Add", code.Find(0x1100, out _)?.Name);
        Assert.Null(code.Find(0x1110, out _));
        Assert.Null(code.Find(0x8080, out _));
        Assert.Null(code.Find(0xfff, out _));
    }

    [Fact]
    public void An_address_is_at_the_il_offset_of_the_map_the_rundown_sent_just_before_its_methods_code()
    {
        var code = new ManagedCode();
        var method = new EventKind(ManagedCode.RundownProvider, 144, 2); // MethodDCEndVerbose
        var map = new EventKind(ManagedCode.RundownProvider, 150, 0); // MethodDCEndILToNativeMap
        // Out of native order, as the map's layout allows: prologue, IL 0 at +5, IL 10 at +0x20, epilogue.
        code.TryAdd(new TraceEventRecord(map, 1, 0, -1, IlToNativeMap(methodId: 0x1000 ^ 0xABCD, (0x20, 10), (0, -2), (5, 0), (0x40, -3))));
        code.TryAdd(new TraceEventRecord(method, 1, 0, -1, MethodLoad(module: 7, start: 0x1000, size: 0x50, token: 0x06000001, "Shop.Cart", "Total")));
        // A map of other code than the method event after it is not that method's.
        code.TryAdd(new TraceEventRecord(map, 1, 0, -1, IlToNativeMap(methodId: 42, (0, 0))));
        code.TryAdd(new TraceEventRecord(method, 1, 0, -1, MethodLoad(module: 7, start: 0x2000, size: 0x10, token: 0x06000002, "Shop.Cart", "Add")));

        int IlAt(ulong address) => code.Find(address, out var ilOffset) is null ? int.MinValue : ilOffset;
        Assert.Equal(-1, IlAt(0x1000)); // prologue
        Assert.Equal(0, IlAt(0x1005));
        Assert.Equal(0, IlAt(0x101f));
        Assert.Equal(10, IlAt(0x1020));
        Assert.Equal(-1, IlAt(0x1045)); // epilogue
        Assert.Equal(-1, IlAt(0x2004));
        Assert.Equal("Shop.Cart.Add", code.Find(0x2004, out _)?.Name);
    }

    [Fact]
    public void The_rundown_keeps_only_the_methods_the_windows_stacks_ran_with_their_maps()
    {
        // One stack: a leaf in Total, its caller's return address just past Add's last byte.
        var stacks = new List<ulong[]> { new ulong[] { 0x1010, 0x2010 } };
        var code = new ManagedCode(stacks);
        var method = new EventKind(ManagedCode.RundownProvider, 144, 2); // MethodDCEndVerbose
        var map = new EventKind(ManagedCode.RundownProvider, 150, 0); // MethodDCEndILToNativeMap
        code.TryAdd(new TraceEventRecord(map, 1, 0, -1, IlToNativeMap(methodId: 0x3000 ^ 0xABCD, (0, 0))));
        code.TryAdd(new TraceEventRecord(method, 1, 0, -1, MethodLoad(module: 7, start: 0x3000, size: 0x50, token: 0x06000003, "Shop.Cart", "Unused")));
        code.TryAdd(new TraceEventRecord(map, 1, 0, -1, IlToNativeMap(methodId: 0x1000 ^ 0xABCD, (0, 0), (0x10, 4))));
        code.TryAdd(new TraceEventRecord(method, 1, 0, -1, MethodLoad(module: 7, start: 0x1000, size: 0x50, token: 0x06000001, "Shop.Cart", "Total")));
        code.TryAdd(new TraceEventRecord(method, 1, 0, -1, MethodLoad(module: 7, start: 0x2000, size: 0x10, token: 0x06000002, "Shop.Cart", "Add")));
        // A stack read after the rundown began (not seen from the runtime so far) still finds the methods sent after it.
        stacks.Add([0x4008]);
        code.TryAdd(new TraceEventRecord(method, 1, 0, -1, MethodLoad(module: 7, start: 0x4000, size: 0x10, token: 0x06000004, "Shop.Cart", "Late")));
        // A method loaded while the session runs is kept whatever the stacks: a later event may run it.
        code.TryAdd(new TraceEventRecord(new EventKind(ManagedCode.RuntimeProvider, 143, 2), 1, 0, -1,
            MethodLoad(module: 7, start: 0x5000, size: 0x10, token: 0x06000005, "Shop.Cart", "Jitted")));

        Assert.Equal("Shop.Cart.Total", code.Find(0x1010, out var ilOffset)?.Name);
        Assert.Equal(4, ilOffset);
        Assert.Equal("Shop.Cart.Add", code.Find(0x200f, out _)?.Name);
        Assert.Null(code.Find(0x3010, out _));
        Assert.Equal("Shop.Cart.Late", code.Find(0x4008, out _)?.Name);
        Assert.Equal("Shop.Cart.Jitted", code.Find(0x5008, out _)?.Name);
    }

    /// <summary>A MethodDCEndILToNativeMap payload: MethodID, ReJITID, MethodExtent, CountOfMapEntries, ILOffsets, NativeOffsets, ClrInstanceID.</summary>
    private static byte[] IlToNativeMap(ulong methodId, params (uint Native, int IL)[] entries)
    {
        using var payload = new MemoryStream();
        using var writer = new BinaryWriter(payload);
        writer.Write(methodId);
        writer.Write(0L);
        writer.Write((byte)0);
        writer.Write((ushort)entries.Length);
        foreach (var (_, il) in entries)
            writer.Write(il);
        foreach (var (native, _) in entries)
            writer.Write(native);
        writer.Write((short)0);
        writer.Flush();
        return payload.ToArray();
    }

    /// <summary>A MethodLoadVerbose payload: MethodID, ModuleID, MethodStartAddress, MethodSize, MethodToken, MethodFlags, MethodNamespace, MethodName, MethodSignature, ClrInstanceID, ReJITID.</summary>
    private static byte[] MethodLoad(ulong module, ulong start, uint size, int token, string space, string name)
    {
        using var payload = new MemoryStream();
        using var writer = new BinaryWriter(payload, Encoding.Unicode);
        writer.Write(start ^ 0xABCD);
        writer.Write(module);
        writer.Write(start);
        writer.Write(size);
        writer.Write(token);
        writer.Write(0);
        foreach (var text in new[] { space, name, "void  (int32)" })
            writer.Write(Encoding.Unicode.GetBytes(text + "\0"));
        writer.Write((short)0);
        writer.Write(0L);
        writer.Flush();
        return payload.ToArray();
    }
}
