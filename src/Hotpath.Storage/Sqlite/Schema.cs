using Microsoft.Data.Sqlite;

namespace Hotpath.Storage.Sqlite;

/// <summary>The embedded store's tables. Times are Unix nanoseconds, so comparisons keep full precision.</summary>
internal static class Schema
{
    private const string Sql = """
        PRAGMA journal_mode=WAL;
        CREATE TABLE IF NOT EXISTS profiles(
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            service TEXT NOT NULL,
            type INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            instance_id TEXT NOT NULL,
            labels TEXT NOT NULL,
            size INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS profiles_by_service_type_time ON profiles(service, type, created_at);
        CREATE INDEX IF NOT EXISTS profiles_by_time ON profiles(created_at);
        -- One row per label, ordered so that a label filter is a range scan over exactly its matches.
        CREATE TABLE IF NOT EXISTS profile_labels(
            service TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY(service, key, value, created_at, seq)) WITHOUT ROWID;
        -- Bodies apart from the metadata, so that index and metadata pages stay small.
        CREATE TABLE IF NOT EXISTS bodies(seq INTEGER PRIMARY KEY, data BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS services(service TEXT PRIMARY KEY) WITHOUT ROWID;
        """;

    public static void Create(SqliteConnection connection) => SqliteProfileStore.Execute(connection, Sql);
}
