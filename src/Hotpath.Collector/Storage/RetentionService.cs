using Hotpath.Collector.Hosting;
using Hotpath.Pprof;
using Hotpath.Storage;
using Microsoft.Extensions.Options;

namespace Hotpath.Collector.Storage;

/// <summary>Deletes profiles older than the retention, at start and then every interval.</summary>
public sealed class RetentionService(IRetention retention, IOptions<StorageOptions> options, TimeProvider time,
    ILogger<RetentionService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (settings.Retention == TimeSpan.Zero && settings.AggregateRetention == TimeSpan.Zero)
            return; // keep forever

        using var timer = new PeriodicTimer(settings.RetentionInterval, time);
        do
        {
            await RunOnceAsync(settings.Retention, settings.AggregateRetention, stoppingToken);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>One retention pass (zero keeps forever); failures are logged and retried at the next tick.</summary>
    public async Task RunOnceAsync(TimeSpan keep, TimeSpan keepAggregates, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var cutoff = keep == TimeSpan.Zero ? DateTimeOffset.MinValue : now - keep;
        var aggregateCutoff = keepAggregates == TimeSpan.Zero ? DateTimeOffset.MinValue : now - keepAggregates;
        try
        {
            var deleted = await retention.DeleteOlderThanAsync(UnixNanos.Clamp(cutoff), UnixNanos.Clamp(aggregateCutoff), cancellationToken);
            if (deleted > 0)
                Log.RetentionDeleted(logger, deleted, cutoff);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.RetentionFailed(logger, e);
        }
    }
}
