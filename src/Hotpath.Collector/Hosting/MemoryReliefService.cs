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
public sealed class MemoryReliefService : BackgroundService
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
    private readonly DecodeBudget _budget;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IMemoryGauge _memory;

    // What was committed after the last collection of either kind: growth past it is what a quiet one gives back.
    private long _baseline;

    public MemoryReliefService(DecodeBudget budget, TimeProvider time, ILogger<MemoryReliefService> logger)
        : this(budget, time, logger, RuntimeMemory.Instance)
    {
    }

    /// <param name="memory">The runtime's figures and collections (a test's stand-in, to drive the checks).</param>
    internal MemoryReliefService(DecodeBudget budget, TimeProvider time, ILogger logger, IMemoryGauge memory)
    {
        _budget = budget;
        _time = time;
        _logger = logger;
        _memory = memory;
        _baseline = memory.CommittedBytes;
    }

    /// <summary>The runtime's memory as the service reads and frees it.</summary>
    internal interface IMemoryGauge
    {
        long AllocatedBytes { get; }

        long CommittedBytes { get; }

        void Collect();
    }

    private sealed class RuntimeMemory : IMemoryGauge
    {
        public static readonly RuntimeMemory Instance = new();

        public long AllocatedBytes => GC.GetTotalAllocatedBytes();

        public long CommittedBytes => GC.GetGCMemoryInfo().TotalCommittedBytes;

        public void Collect() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _budget.LargeDecodeEnded += Signal;
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
            _budget.LargeDecodeEnded -= Signal;
        }
    }

    private async Task AfterLargeDecodesAsync(CancellationToken stoppingToken)
    {
        while (true)
        {
            await _signal.WaitAsync(stoppingToken);
            await Task.Delay(Quiet, _time, stoppingToken);
            if (_budget.InUseBytes >= DecodeBudget.LargeDecodeBytes)
                continue; // a large decode still runs; it signals again when it ends
            Collect();
        }
    }

    private async Task WhenQuietAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Check, _time);
        var allocated = _memory.AllocatedBytes;
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var now = _memory.AllocatedBytes;
            var quiet = now - allocated < QuietAllocatedBytes * (long)Check.TotalSeconds;
            allocated = now;
            if (quiet && _memory.CommittedBytes > Volatile.Read(ref _baseline) + Grown)
                Collect();
        }
    }

    /// <summary>One aggressive, compacting collection; what stays committed after it is the new baseline.</summary>
    private void Collect()
    {
        var before = _memory.CommittedBytes;
        _memory.Collect();
        var after = _memory.CommittedBytes;
        Volatile.Write(ref _baseline, after);
        Log.MemoryCollected(_logger, before, after);
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
