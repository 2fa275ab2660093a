using Hotpath.Storage.S3;

namespace Hotpath.Collector.Storage;

/// <summary>Profiles as objects in an S3-compatible bucket (Storage:S3); beside ClickHouse, ClickHouse's bodies instead.</summary>
public sealed class S3Engine : IStorageEngine
{
    public string Name => "s3";

    public OpenedEngine? Open(StorageOptions options, ILoggerFactory loggers, TimeProvider time) =>
        options.Types.Contains(ClickHouseEngine.EngineName) ? null : new OpenedEngine(new S3ProfileStore(options.S3 with { Timeout = options.Timeout }), null);
}
