using Hotpath.Storage.Sqlite;

namespace Hotpath.Collector.Storage;

/// <summary>The embedded store, in Storage:DataDirectory.</summary>
public sealed class SqliteEngine : IStorageEngine
{
    public string Name => "sqlite";

    public OpenedEngine Open(StorageOptions options, ILoggerFactory loggers, TimeProvider time)
    {
        var store = SqliteProfileStore.Open(new SqliteStoreOptions { DataDirectory = options.DataDirectory }, loggers.CreateLogger<SqliteProfileStore>(), time);
        return new OpenedEngine(store, store);
    }
}
