using Hotpath.Storage;

namespace Hotpath.Collector.Storage;

/// <summary>One kind of storage engine Storage:Type can name, registered by its own AddX beside the storage options.</summary>
public interface IStorageEngine
{
    /// <summary>The name Storage:Type gives it ("sqlite", "s3", "clickhouse").</summary>
    string Name { get; }

    /// <summary>
    /// Opens the engine without reaching any server (a remote engine prepares itself on first use); null when
    /// another engine named beside it takes its part (S3 beside ClickHouse holds ClickHouse's bodies).
    /// </summary>
    OpenedEngine? Open(StorageOptions options, ILoggerFactory loggers, TimeProvider time);
}

/// <summary>An opened engine: the contract it serves, its piece builder when it pre-merges, its journal's shipping when it has one.</summary>
public sealed record OpenedEngine(IProfileStore Store, IPieceBuilder? Pieces, IJournalShipping? Journal = null);
