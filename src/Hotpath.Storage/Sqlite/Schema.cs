using Hotpath.Pprof;
using Hotpath.Storage.Pieces;
using Microsoft.Data.Sqlite;

namespace Hotpath.Storage.Sqlite;

/// <summary>The embedded store's tables. Times are Unix nanoseconds, so comparisons keep full precision.</summary>
internal static class Schema
{
    private const string Sql = """
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
        -- Pre-merged pieces (Pieces/, SqlitePieceIndex and SqlitePieceStore): per label set of a service and type (and one set '*' for all of its
        -- profiles, and one '*k:v' per chosen label pair for the profiles with it: LabelGroups), per level (minute, ten
        -- minutes, hour, day) and bucket; a body, or a pointer to the one raw profile of the bucket. A bucket written
        -- since its piece was built is in rollup_dirty.
        CREATE TABLE IF NOT EXISTS label_sets(id INTEGER PRIMARY KEY, service TEXT NOT NULL, type INTEGER NOT NULL, labels TEXT NOT NULL,
            UNIQUE(service, type, labels));
        CREATE TABLE IF NOT EXISTS rollups(id INTEGER PRIMARY KEY, set_id INTEGER NOT NULL, level INTEGER NOT NULL, bucket INTEGER NOT NULL,
            profiles INTEGER NOT NULL, value INTEGER NOT NULL, seq INTEGER, body BLOB, UNIQUE(set_id, level, bucket));
        -- touched: when a write last marked the bucket (Unix nanoseconds); a bucket is built once writes to it settle.
        CREATE TABLE IF NOT EXISTS rollup_dirty(set_id INTEGER NOT NULL, level INTEGER NOT NULL, bucket INTEGER NOT NULL, generation INTEGER NOT NULL,
            touched INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY(set_id, level, bucket)) WITHOUT ROWID;
        """;

    /// <summary>The on-disk format; a store written in another one is refused rather than misread.</summary>
    public const int Version = 4;

    /// <summary>The first format with pieces, whose dirty marks had no time: opened by adding it.</summary>
    private const int WithoutTouched = 3;

    /// <summary>The format before pre-merged pieces; opened by adding them, every stored profile marked for building.</summary>
    private const int WithoutRollups = 2;

    public static void Create(SqliteConnection connection)
    {
        bool migrate, addTouched;
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version; SELECT count(*) FROM sqlite_schema WHERE type = 'table';";
        using (var reader = command.ExecuteReader())
        {
            reader.Read();
            var version = reader.GetInt32(0);
            reader.NextResult();
            reader.Read();
            var tables = reader.GetInt64(0);
            if (tables > 0 && version != Version && version != WithoutRollups && version != WithoutTouched)
                throw new InvalidOperationException($"{connection.DataSource} holds a store of format {version}, not {Version}; use another data directory");
            migrate = tables > 0 && version == WithoutRollups;
            addTouched = tables > 0 && version == WithoutTouched;
        }

        // Not in a transaction, which WAL mode cannot be entered from; the rest in one, so a crash leaves either format.
        SqliteProfileStore.Execute(connection, "PRAGMA journal_mode=WAL;");
        using var tx = connection.BeginTransaction();
        using var create = connection.CreateCommand();
        create.Transaction = tx;
        create.CommandText = (addTouched ? "ALTER TABLE rollup_dirty ADD COLUMN touched INTEGER NOT NULL DEFAULT 0;" : "")
            + Sql + (migrate ? Backfill() : "") + $"PRAGMA user_version = {Version};";
        create.ExecuteNonQuery();
        tx.Commit();
    }

    /// <summary>Label sets and dirty marks for every profile already stored, so the builder makes their pieces.</summary>
    private static string Backfill()
    {
        var sql = new System.Text.StringBuilder($"""
            INSERT OR IGNORE INTO label_sets(service, type, labels) SELECT DISTINCT service, type, labels FROM profiles WHERE type <> {(int)ProfileType.Trace};
            INSERT OR IGNORE INTO label_sets(service, type, labels) SELECT DISTINCT service, type, '{BucketGrid.AllLabels}' FROM profiles WHERE type <> {(int)ProfileType.Trace};
            """);
        for (var level = BucketGrid.Minute; level <= BucketGrid.Day; level++)
        {
            var width = BucketGrid.Width(level);
            sql.Append(System.Globalization.CultureInfo.InvariantCulture, $"""
                INSERT OR IGNORE INTO rollup_dirty(set_id, level, bucket, generation)
                SELECT s.id, {level}, p.created_at - (((p.created_at % {width}) + {width}) % {width}), max(p.seq)
                FROM profiles p JOIN label_sets s ON s.service = p.service AND s.type = p.type AND (s.labels = p.labels OR s.labels = '{BucketGrid.AllLabels}')
                GROUP BY 1, 2, 3;
                """);
        }

        return sql.ToString();
    }
}
