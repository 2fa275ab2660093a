using Hotpath.Collector.Hosting;

namespace Hotpath.Collector.Storage;

/// <summary>
/// Prepares every engine once at start, in the background (a remote one makes its schema or bucket on first
/// use), and says in the log which one is down: the collector listens either way.
/// </summary>
public sealed class StorageStartupService(StorageEngines engines, ILogger<StorageStartupService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        foreach (var (backend, error) in await engines.ProbeAsync(stoppingToken))
        {
            if (error is not null)
                Log.EngineDownAtStart(logger, backend, error);
        }
    }
}
