namespace Hotpath.Collector.Storage;

/// <summary>
/// Ships every write journal's acknowledged profiles to its engine (ClickHouse) while the collector runs; at
/// shutdown each drains for a few seconds and leaves the rest in its journal for the next start.
/// </summary>
public sealed class JournalShipService(StorageEngines engines) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(engines.Journals.Select(journal => journal.ShipAsync(stoppingToken)));
}
