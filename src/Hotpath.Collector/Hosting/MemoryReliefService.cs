using Hotpath.Pprof;

namespace Hotpath.Collector.Hosting;

/// <summary>
/// Gives memory back to the operating system after a large decode (a bomb refused, a huge profile taken):
/// such arrays live on the large object heap, which only a full collection frees, and an idle collector
/// allocates too little to trigger one, so RSS would stay at its peak for good. Once the large decodes in
/// flight are done, one aggressive collection compacts the heap and decommits what it no longer needs.
/// </summary>
public sealed class MemoryReliefService(DecodeBudget budget, ILogger<MemoryReliefService> logger) : BackgroundService
{
    // Long enough to gather a burst of large decodes into one collection, short enough to feel immediate.
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);

    private readonly SemaphoreSlim _signal = new(0, 1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        budget.LargeDecodeEnded += Signal;
        try
        {
            while (true)
            {
                await _signal.WaitAsync(stoppingToken);
                await Task.Delay(Quiet, stoppingToken);
                if (budget.InUseBytes >= DecodeBudget.LargeDecodeBytes)
                    continue; // a large decode still runs; it signals again when it ends
                var before = GC.GetGCMemoryInfo().TotalCommittedBytes;
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                Log.MemoryCollected(logger, before, GC.GetGCMemoryInfo().TotalCommittedBytes);
            }
        }
        finally
        {
            budget.LargeDecodeEnded -= Signal;
        }
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
