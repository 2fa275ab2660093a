using Hotpath.Collector.Hosting;
using Hotpath.Pprof;
using Hotpath.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Hotpath.Collector.Tests;

/// <summary>When the collector gives memory back: the service's checks, driven by a clock and a gauge the test moves.</summary>
public sealed class MemoryReliefTests
{
    private const long MiB = 1024 * 1024;

    /// <summary>The runtime's figures as the test sets them; a collection leaves <see cref="AfterCollection"/> committed.</summary>
    private sealed class Gauge : MemoryReliefService.IMemoryGauge
    {
        private long _allocated;
        private int _reads;

        public long Allocated
        {
            set => Interlocked.Exchange(ref _allocated, value);
        }

        public long AllocatedBytes
        {
            get
            {
                Interlocked.Increment(ref _reads);
                return Interlocked.Read(ref _allocated);
            }
        }

        public long CommittedBytes { get; set; }

        public long AfterCollection { get; init; }

        public int Collections { get; private set; }

        public int Reads => Volatile.Read(ref _reads);

        public void Collect()
        {
            Collections++;
            CommittedBytes = AfterCollection;
        }
    }

    private static async Task TickAsync(FakeTimeProvider time, Gauge gauge)
    {
        var reads = gauge.Reads;
        time.Advance(TimeSpan.FromSeconds(5));
        await Eventually.TrueAsync(() => gauge.Reads > reads, TimeSpan.FromSeconds(10), "the check did not run on its tick");
    }

    [Fact]
    public async Task Once_the_collector_goes_quiet_with_much_more_committed_one_collection_gives_it_back_and_no_more()
    {
        var time = new FakeTimeProvider();
        var gauge = new Gauge { CommittedBytes = 80 * MiB, AfterCollection = 90 * MiB };
        using var service = new MemoryReliefService(new DecodeBudget(512 * MiB, 256 * MiB), time, NullLogger.Instance, gauge);
        await service.StartAsync(default);
        // ExecuteAsync runs on its own task (.NET 10): its timer exists once it has taken its first reading.
        await Eventually.TrueAsync(() => gauge.Reads >= 1, TimeSpan.FromSeconds(10), "the service never took its first reading");

        // Busy: 400 MB allocated in 5 s with 350 MiB committed; nothing is collected while it works.
        gauge.CommittedBytes = 350 * MiB;
        gauge.Allocated = 400_000_000;
        await TickAsync(time, gauge);
        Assert.Equal(0, gauge.Collections);

        // Quiet: one collection gives the growth back.
        time.Advance(TimeSpan.FromSeconds(5));
        await Eventually.TrueAsync(() => gauge.Collections == 1, TimeSpan.FromSeconds(10), "no collection once the collector went quiet");

        // Still quiet, grown by less than it takes: nothing more.
        gauge.CommittedBytes = 120 * MiB;
        await TickAsync(time, gauge);
        await TickAsync(time, gauge);
        Assert.Equal(1, gauge.Collections);

        await service.StopAsync(default);
    }
}
