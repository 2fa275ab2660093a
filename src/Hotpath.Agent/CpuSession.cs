using System.Diagnostics.Tracing;
using Hotpath.Pprof.Proto;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.EventPipe;

namespace Hotpath.Agent;

/// <summary>
/// Records a CPU profile of a .NET process for one window through EventPipe's sample profiler, streaming
/// (no trace file): method names come from a live TraceLog with the startup rundown. Only samples of
/// threads running managed code count, each weighted by the time since that thread's previous sample.
/// </summary>
public static class CpuSession
{

    public static async Task<Profile> RecordAsync(int processId, TimeSpan window, CancellationToken cancellationToken)
    {
        var client = new DiagnosticsClient(processId);
        var providers = new[]
        {
            new EventPipeProvider(SampleProfilerTraceEventParser.ProviderName, EventLevel.Informational),
            // Loader and JIT (method names) and stacks, at Verbose for MethodLoadVerbose.
            new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Verbose, 0x8 | 0x10 | 0x40000000),
        };
        var started = DateTimeOffset.UtcNow;
        using var session = client.StartEventPipeSession(providers, requestRundown: false);
        using var source = TraceLog.CreateFromEventPipeSession(session, TraceLog.EventPipeRundownConfiguration.Enable(client));
        var builder = new PprofBuilder([("samples", "count"), ("cpu", "nanoseconds")], ("cpu", "nanoseconds"), 1_000_000);
        var previous = new Dictionary<int, double>();
        var frames = new List<string>(64);

        var sampler = new SampleProfilerTraceEventParser(source);
        sampler.ThreadSample += e =>
        {
            // An exception escaping a handler ends Process() and then hangs Stop(): never let one out.
            try
            {
                var now = e.TimeStampRelativeMSec;
                var interval = previous.TryGetValue(e.ThreadID, out var last) ? now - last : 1.0;
                previous[e.ThreadID] = now;
                if (e.Type != ClrThreadSampleType.Managed)
                    return;
                frames.Clear();
                for (var frame = e.CallStack(); frame is not null; frame = frame.Caller)
                {
                    var name = frame.CodeAddress.FullMethodName;
                    if (!string.IsNullOrEmpty(name))
                        frames.Add(Simplify(name));
                }

                // The thread was stopped at a GC poll: charge its caller.
                if (frames.Count > 1 && frames[0].Contains("PollGC", StringComparison.Ordinal))
                    frames.RemoveAt(0);
                if (frames.Count > 0)
                    builder.Add(frames, [1, (long)(Math.Min(interval, 1000) * 1_000_000)]);
            }
            catch (Exception)
            {
                // A sample we cannot resolve is skipped.
            }
        };

        var processing = Task.Run(source.Process, CancellationToken.None);
        try
        {
            await Task.Delay(window, cancellationToken);
        }
        finally
        {
            await session.StopAsync(CancellationToken.None);
            await processing;
        }

        return builder.Build(started, DateTimeOffset.UtcNow - started);
    }

    /// <summary>"Shop.Cart.Total(int32)" → "Shop.Cart.Total": pprof function names without signatures.</summary>
    private static string Simplify(string name)
    {
        var paren = name.IndexOf('(', StringComparison.Ordinal);
        return paren > 0 ? name[..paren] : name;
    }
}
