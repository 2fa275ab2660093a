using System.Runtime.CompilerServices;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;

namespace Hotpath.Agent.Tests;

/// <summary>Self-profiling through EventPipe; alone, so that other tests' threads do not share the CPU window.</summary>
[Collection(Name)]
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CpuSessionTests
{
    private const string Name = "cpu sampling";

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static double BurnCpu(CancellationToken stop)
    {
        var x = 0.0;
        while (!stop.IsCancellationRequested)
        {
            for (var i = 0; i < 100_000; i++)
                x += Math.Sqrt(i);
        }

        return x;
    }

    [Fact]
    public async Task A_window_of_this_process_names_the_busy_method_among_the_top_three_with_a_clear_share()
    {
        using var stop = new CancellationTokenSource();
        var burner = new Thread(() => BurnCpu(stop.Token)) { IsBackground = true, Name = "burner" };
        burner.Start();
        try
        {
            var profile = await CpuSession.RecordAsync(Environment.ProcessId, TimeSpan.FromSeconds(3), CancellationToken.None);

            var bytes = ProfileEncoder.ToGzipBytes(profile);
            var decoded = new ProfileDecoder().Decode(bytes);
            var top = TopTable.Build(decoded, 1);
            var burn = top.Rows.Single(r => r.Function.EndsWith("CpuSessionTests.BurnCpu", StringComparison.Ordinal));
            // A whole core of the window, while the test host's other threads (thread pool spinning, sockets)
            // and, under the test command, other test processes share the 2 cores: a clear share, near the top.
            var summary = $"BurnCpu has {burn.Flat} of {top.Total}: {string.Join(", ", top.Rows.Take(5).Select(r => r.Function + " " + r.Flat))}";
            Assert.True(burn.Flat > 0.15 * top.Total, summary);
            Assert.True(top.Rows.Take(3).Contains(burn), summary);
            Assert.InRange(decoded.DurationNanos, 2_500_000_000, 30_000_000_000);
        }
        finally
        {
            await stop.CancelAsync();
            burner.Join();
        }
    }
}
