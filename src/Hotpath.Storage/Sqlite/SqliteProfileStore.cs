using Hotpath.Storage.Pieces;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Hotpath.Storage.Sqlite;

/// <summary>
/// The embedded store: one SQLite database in WAL mode. Metadata and label index rows are kept apart from
/// the bodies so that finds read small pages only. Writes from concurrent requests are queued and committed
/// together, one transaction and one sync per batch (group commit); each write completes once its batch is
/// on disk.
/// </summary>
public sealed partial class SqliteProfileStore : IProfileStore, IStorageSize, IRollupStatus, IPieceBuilder, IAsyncDisposable
{
    private const string Backend = "sqlite";
    private const int RetentionBatch = 500;
    private const int IdChunk = 256;

    /// <summary>What the write-ahead log is cut back to once checkpointed, so a burst does not leave it large for good.</summary>
    private const long WalLimit = 16L * 1024 * 1024;

    private readonly SqliteStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _connectionString;
    private readonly GroupCommit<PendingWrite> _commits;
    private readonly SqliteConnection _writer;
    private readonly BatchWriter _batch;
    private readonly BodyLog _log;
    private readonly SqliteConnection _rollupConnection;
    private readonly IngestFolds _folds = new();
    private readonly PieceBuilder<RawPlace> _rollups;
    private readonly SemaphoreSlim _rollupPass = new(1, 1);
    private int _disposed;

    /// <summary>
    /// Opens (or creates) the store in <see cref="SqliteStoreOptions.DataDirectory"/>: its schema, made or
    /// migrated, and its body log; a store of another format is refused with <see cref="InvalidOperationException"/>.
    /// </summary>
    /// <param name="time">The clock of settle times and of which profiles are recent (null: the system's).</param>
    public static SqliteProfileStore Open(SqliteStoreOptions options, ILogger<SqliteProfileStore> logger, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        Directory.CreateDirectory(options.DataDirectory);
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = options.DatabasePath,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        var writer = Open(connectionString);
        try
        {
            Schema.Create(writer);
            // FULL: a commit in WAL mode is fsynced before it returns, so an acknowledged write survives power loss too.
            // No checkpoints on the writer: its commits answer requests, and a checkpoint (the log's pages copied into the
            // database, which is synced) on one of them made its batch wait; the builder's connection checkpoints instead.
            Execute(writer, $"PRAGMA synchronous=FULL; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={WalLimit};");
            var log = OpenBodyLog(writer, options);
            // A crash between a retention pass's commit and its file deletes leaves empty segments behind.
            DeleteEmptySegments(writer, log);
            return new SqliteProfileStore(options, logger, time ?? TimeProvider.System, connectionString, writer, log);
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    private SqliteProfileStore(SqliteStoreOptions options, ILogger<SqliteProfileStore> logger, TimeProvider time, string connectionString,
        SqliteConnection writer, BodyLog log)
    {
        _time = time;
        _options = options;
        _logger = logger;
        _connectionString = connectionString;
        _writer = writer;
        _log = log;
        _batch = new BatchWriter(_writer, _log, _folds, logger, _time);
        _commits = new GroupCommit<PendingWrite>(Backend, options.MaxPendingWrites, options.MaxBatchSize, _batch);
        _rollupConnection = Open(connectionString);
        // NORMAL: a piece and the clearing of its mark commit together, so a crash loses at most the last pieces built
        // (and their marks stay: the next pass builds them again), never a piece without its mark; one fsync less per piece.
        Execute(_rollupConnection, $"PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit={WalLimit};");
        _rollups = new PieceBuilder<RawPlace>(new SqlitePieceStore(_rollupConnection, _log, _folds, options.MinMergedProfiles));
    }

    string IStorageProbe.Backend => Backend;

    /// <summary>Answers when the database can be read (it is local: only a broken disk or a closed store fails).</summary>
    public async Task ProbeAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) != 0)
            throw new StorageUnavailableException(Backend, "the embedded store is shutting down");
        try
        {
            await using var connection = Open();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT count(*) FROM services";
            await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e)
        {
            throw new StorageUnavailableException(Backend, "the embedded store cannot be read: " + e.Message, e);
        }
    }

    private long Scalar(string sql)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    public long SizeBytes => FileSize(_options.DatabasePath) + FileSize(_options.DatabasePath + "-wal") + _log.SizeBytes;

    private static BodyLog OpenBodyLog(SqliteConnection connection, SqliteStoreOptions options)
    {
        long segment = 1, end = 0;
        var live = new HashSet<long>();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, end_offset FROM segments ORDER BY id";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            (segment, end) = (reader.GetInt64(0), reader.GetInt64(1));
            live.Add(segment);
        }

        return new BodyLog(options.BodiesDirectory, options.MaxSegmentBytes, segment, end, live);
    }

    private SqliteConnection Open() => Open(_connectionString);

    private static SqliteConnection Open(string connectionString)
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        // SQLite's own wait for the write lock polls in milliseconds; without it the driver retries every 150 ms, and
        // the ingest writer and the piece builder, which take turns at the lock, each slept a fifth of a burst away.
        Execute(connection, "PRAGMA busy_timeout=30000;");
        return connection;
    }

    internal static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static long FileSize(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;

    /// <summary>Stops taking writes, commits what is queued, and closes the database.</summary>
    public async ValueTask DisposeAsync()
    {
        // Several service registrations may share this instance; only the first dispose does the work.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _rollupPass.WaitAsync().ConfigureAwait(false); // a pass a caller started ends first
        await _rollupConnection.DisposeAsync().ConfigureAwait(false);
        await _commits.DisposeAsync().ConfigureAwait(false);
        _batch.Dispose();
        _log.Dispose();
        Execute(_writer, "PRAGMA wal_checkpoint(TRUNCATE);");
        await _writer.DisposeAsync().ConfigureAwait(false);
        SqliteConnection.ClearPool(new SqliteConnection(_connectionString));
        _rollupPass.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Trace, Message = "Committed {Count} profiles in one transaction")]
        public static partial void BatchCommitted(ILogger logger, int count);

        [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Could not commit a batch of {Count} profiles")]
        public static partial void BatchFailed(ILogger logger, int count, Exception exception);
    }
}
