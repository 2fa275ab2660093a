using Hotpath.Pprof;

namespace Hotpath.Collector.Hosting;

/// <summary>
/// Gives memory back to the operating system once the work that took it is over. Large arrays (a bomb refused,
/// a huge profile taken, a busy minute of merges) live on the large object heap or in gen 2, which only a full
/// collection frees, and an idle collector allocates too little to trigger one, so RSS would stay at its peak
/// for good. One aggressive collection compacts the heap and decommits what it no longer needs: a second after
/// the large decodes in flight are done, and whenever the collector has gone quiet (it allocated little for a
/// few seconds) with much more committed than after the last such collection.
/// </summary>
public sealed class MemoryReliefService(DecodeBudget budget, TimeProvider time, ILogger<MemoryReliefService> logger) : BackgroundService
{
    // Long enough to gather a burst of large decodes into one collection, short enough to feel immediate.
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);

    // How often the collector is checked for having gone quiet, and what counts as quiet: allocating less than
    // a few megabytes a second (an idle collector with its background passes allocates well under one).
    private static readonly TimeSpan Check = TimeSpan.FromSeconds(5);
    private const long QuietAllocatedBytes = 16L * 1024 * 1024;

    // Committed memory past the last collection's that is worth a collection of its own.
    private const long Grown = 48L * 1024 * 1024;

    private readonly SemaphoreSlim _signal = new(0, 1);

    // What was committed after the last collection of either kind: growth past it is what a quiet one gives back.
    private long _baseline = GC.GetGCMemoryInfo().TotalCommittedBytes;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        budget.LargeDecodeEnded += Signal;
        try
        {
            await Task.WhenAll(AfterLargeDecodesAsync(stoppingToken), WhenQuietAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
        finally
        {
            budget.LargeDecodeEnded -= Signal;
        }
    }

    private async Task AfterLargeDecodesAsync(CancellationToken stoppingToken)
    {
        while (true)
        {
            await _signal.WaitAsync(stoppingToken);
            await Task.Delay(Quiet, time, stoppingToken);
            if (budget.InUseBytes >= DecodeBudget.LargeDecodeBytes)
                continue; // a large decode still runs; it signals again when it ends
            Collect();
        }
    }

    private async Task WhenQuietAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Check, time);
        var allocated = GC.GetTotalAllocatedBytes();
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var now = GC.GetTotalAllocatedBytes();
            var quiet = now - allocated < QuietAllocatedBytes * (long)Check.TotalSeconds;
            allocated = now;
            if (quiet && GC.GetGCMemoryInfo().TotalCommittedBytes > Volatile.Read(ref _baseline) + Grown)
                Collect();
        }
    }

    /// <summary>One aggressive, compacting collection; what stays committed after it is the new baseline.</summary>
    private void Collect()
    {
        var before = GC.GetGCMemoryInfo().TotalCommittedBytes;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var after = GC.GetGCMemoryInfo().TotalCommittedBytes;
        Volatile.Write(ref _baseline, after);
        Log.MemoryCollected(logger, before, after);
    }

    private void Signal()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // A collection is already due.
        }
    }

    public override void Dispose()
    {
        _signal.Dispose();
        base.Dispose();
    }
}
