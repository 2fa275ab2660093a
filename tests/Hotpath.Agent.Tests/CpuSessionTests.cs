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
    public async Task A_window_of_this_process_names_the_busy_method_and_gives_it_most_of_the_cpu()
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
            Assert.True(burn.Flat > 0.3 * top.Total, $"BurnCpu has {burn.Flat} of {top.Total}: {string.Join(", ", top.Rows.Take(5).Select(r => r.Function + " " + r.Flat))}");
            Assert.InRange(decoded.DurationNanos, 2_500_000_000, 30_000_000_000);
        }
        finally
        {
            await stop.CancelAsync();
            burner.Join();
        }
    }
}
