using Hotpath.Pprof;
using Hotpath.Storage;
using Microsoft.Extensions.Options;

namespace Hotpath.Collector.Hosting;

/// <summary>Deletes profiles older than the retention, at start and then every interval.</summary>
public sealed class RetentionService(IRetention retention, IOptions<StorageOptions> options, TimeProvider time,
    ILogger<RetentionService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (settings.Retention == TimeSpan.Zero)
            return; // keep forever

        using var timer = new PeriodicTimer(settings.RetentionInterval, time);
        do
        {
            await RunOnceAsync(settings.Retention, stoppingToken);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>One retention pass; failures are logged and retried at the next tick.</summary>
    public async Task RunOnceAsync(TimeSpan keep, CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow() - keep;
        try
        {
            var deleted = await retention.DeleteOlderThanAsync(UnixNanos.Clamp(cutoff), cancellationToken);
            if (deleted > 0)
                Log.RetentionDeleted(logger, deleted, cutoff);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.RetentionFailed(logger, e);
        }
    }
}
