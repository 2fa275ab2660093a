using Hotpath.Storage.ClickHouse;
using Hotpath.Storage.Journal;
using Hotpath.Storage.S3;

namespace Hotpath.Collector.Storage;

/// <summary>
/// ClickHouse (Storage:ClickHouse), behind this collector's write journal unless Storage:JournalMaxBytes is 0;
/// with "s3" named beside it, its bodies go to S3: one engine, not two copies.
/// </summary>
public sealed class ClickHouseEngine : IStorageEngine
{
    public const string EngineName = "clickhouse";

    public string Name => EngineName;

    public OpenedEngine Open(StorageOptions options, ILoggerFactory loggers, TimeProvider time)
    {
        var bodies = options.Types.Contains("s3") ? new S3ObjectStore(options.S3 with { Timeout = options.Timeout }) : null;
        var engine = new ClickHouseProfileStore(options.ClickHouse with { Timeout = options.Timeout }, loggers.CreateLogger<ClickHouseProfileStore>(), bodies, time);
        if (options.JournalMaxBytes == 0)
            return new OpenedEngine(engine, engine);
        var journaled = new JournaledProfileStore(engine, Path.Combine(options.JournalDirectory ?? Path.Combine(options.DataDirectory, "journal"), engine.Backend),
            options.JournalMaxBytes, loggers.CreateLogger<JournaledProfileStore>());
        return new OpenedEngine(journaled, engine, journaled);
    }
}
