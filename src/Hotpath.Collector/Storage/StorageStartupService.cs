using Hotpath.Collector.Hosting;
using Hotpath.Storage;

namespace Hotpath.Collector.Storage;

/// <summary>
/// Prepares every engine once at start, in the background (a remote one makes its schema or bucket on first
/// use), and says in the log which one is down: the collector listens either way.
/// </summary>
public sealed class StorageStartupService(StorageEngines engines, ILogger<StorageStartupService> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(engines.Engines.Select(async engine =>
        {
            try
            {
                await engine.ProbeAsync(stoppingToken);
            }
            catch (StorageUnavailableException e)
            {
                Log.EngineDownAtStart(logger, engine.Backend, e.Message);
            }
        }));
}
