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
            size INTEGER NOT NULL,
            segment INTEGER NOT NULL,
            body_offset INTEGER NOT NULL,
            value INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS profiles_by_service_type_time ON profiles(service, type, created_at);
        CREATE INDEX IF NOT EXISTS profiles_by_time ON profiles(created_at);
        -- One row per label, ordered so that a label filter is a range scan over exactly its matches.
        CREATE TABLE IF NOT EXISTS profile_labels(
            service TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            type INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY(service, key, value, type, created_at, seq)) WITHOUT ROWID;
        -- Bodies live in segment files (BodyLog); this counts the profiles in each and where its committed bytes end.
        CREATE TABLE IF NOT EXISTS segments(id INTEGER PRIMARY KEY, live INTEGER NOT NULL, end_offset INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS services(service TEXT PRIMARY KEY) WITHOUT ROWID;
        """;

    /// <summary>The on-disk format; a store written in another one is refused rather than misread.</summary>
    public const int Version = 2;

    public static void Create(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version; SELECT count(*) FROM sqlite_schema WHERE type = 'table';";
        using (var reader = command.ExecuteReader())
        {
            reader.Read();
            var version = reader.GetInt32(0);
            reader.NextResult();
            reader.Read();
            var tables = reader.GetInt64(0);
            if (tables > 0 && version != Version)
                throw new InvalidOperationException($"{connection.DataSource} holds a store of format {version}, not {Version}; use another data directory");
        }

        SqliteProfileStore.Execute(connection, Sql + $"PRAGMA user_version = {Version};");
    }
}
