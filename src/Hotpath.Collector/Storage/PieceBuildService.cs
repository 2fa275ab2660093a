using Hotpath.Collector.Hosting;
using Hotpath.Storage;

namespace Hotpath.Collector.Storage;

/// <summary>
/// Runs the pre-merging passes of every engine that builds pieces (one PieceBuilder over each: the embedded store's minutes to days,
/// ClickHouse's 10 minutes and hours), each at its own interval, on the collector's clock. A failed pass is
/// logged and the next one tries again: the marks stay, and merges read finer pieces and raw profiles meanwhile.
/// </summary>
public sealed class PieceBuildService(StorageEngines engines, TimeProvider time, ILogger<PieceBuildService> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(engines.PieceBuilders.Select(builder => PassesAsync(builder, stoppingToken)));

    private async Task PassesAsync(IPieceBuilder builder, CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(builder.PassInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    if (await builder.BuildPiecesAsync(time.GetUtcNow(), stoppingToken) is > 0 and var built)
                        Log.PiecesBuilt(logger, built, builder.GetType().Name);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.PiecePassFailed(logger, builder.GetType().Name, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }
}
