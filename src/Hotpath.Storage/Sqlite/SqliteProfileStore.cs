using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Hotpath.Pprof;
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
    private readonly RollupBuilder _rollups;
    private readonly SemaphoreSlim _rollupPass = new(1, 1);
    private int _disposed;

    /// <param name="time">The clock of settle times and of which profiles are recent (null: the system's).</param>
    public SqliteProfileStore(SqliteStoreOptions options, ILogger<SqliteProfileStore> logger, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _options = options;
        _logger = logger;
        Directory.CreateDirectory(options.DataDirectory);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = options.DatabasePath,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();

        _writer = Open();
        Schema.Create(_writer);
        // FULL: a commit in WAL mode is fsynced before it returns, so an acknowledged write survives power loss too.
        Execute(_writer, "PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;");
        _log = OpenBodyLog(_writer, options);
        // A crash between a retention pass's commit and its file deletes leaves empty segments behind.
        DeleteEmptySegments(_writer);
        _batch = new BatchWriter(_writer, _log, logger, _time);
        _commits = new GroupCommit<PendingWrite>(Backend, options.MaxPendingWrites, options.MaxBatchSize, _batch);
        _rollupConnection = Open();
        _rollups = new RollupBuilder(_rollupConnection, _log, new ProfileDecoder(), _folds);
    }

    /// <summary>
    /// Builds the pieces of every bucket whose time is over, whether or not writes to it have settled; the
    /// host's passes (<see cref="BuildPiecesAsync"/>, every <see cref="SqliteStoreOptions.RollupInterval"/>) build
    /// the settled ones. Returns how many were built.
    /// </summary>
    public Task<int> BuildRollupsAsync(CancellationToken cancellationToken) => BuildRollupsAsync(_time.GetUtcNow(), settledOnly: false, cancellationToken);

    public TimeSpan PassInterval => _options.RollupInterval;

    /// <summary>Builds the pieces of the buckets that are over and whose writes have settled by <paramref name="now"/>.</summary>
    public Task<int> BuildPiecesAsync(DateTimeOffset now, CancellationToken cancellationToken) => BuildRollupsAsync(now, settledOnly: true, cancellationToken);

    private async Task<int> BuildRollupsAsync(DateTimeOffset now, bool settledOnly, CancellationToken cancellationToken)
    {
        await _rollupPass.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var total = 0;
            int built;
            do
            {
                built = _rollups.BuildPending(UnixNanos.From(now), settledOnly);
                total += built;
            }
            while (built > 0 && !cancellationToken.IsCancellationRequested);
            return total;
        }
        finally
        {
            _rollupPass.Release();
        }
    }

    /// <summary>
    /// A merge's bodies: for a type and no limit, the pre-merged pieces that cover the range and raw profiles
    /// only where none does (see <see cref="MergePlanner"/>); otherwise the raw bodies of what a find selects.
    /// </summary>
    public async Task<MergeSource> OpenMergeAsync(ProfileQuery query, int maxRawProfiles, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Type is null or ProfileType.Trace || query.Limit > 0)
            return await MergeSource.FromFindAsync(this, query, maxRawProfiles, cancellationToken).ConfigureAwait(false);

        await using var connection = Open();
        // One snapshot for the whole plan: a piece and the dirty marks beside it are read as of one moment.
        await using var tx = connection.BeginTransaction(deferred: true);
        var planner = new MergePlanner(connection, tx);
        planner.Plan(query);
        return new MergeSource(planner.Profiles, planner.RawProfiles, ReadPieces(planner.Pieces, cancellationToken).ToAsyncEnumerable());
    }

    /// <summary>A series from the pieces no wider than the resolution (a type, no limit), else from a find.</summary>
    public async Task<IReadOnlyList<SeriesPoint>> SeriesAsync(ProfileQuery query, long resolutionNanos, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Type is null or ProfileType.Trace || query.Limit > 0)
            return await SeriesPoint.FromFindAsync(this, query, cancellationToken).ConfigureAwait(false);

        await using var connection = Open();
        await using var tx = connection.BeginTransaction(deferred: true);
        var planner = new MergePlanner(connection, tx, withBodies: false);
        planner.Plan(query, resolutionNanos);
        return [.. planner.Pieces.Select(p => new SeriesPoint(p.Time, p.Profiles, p.Value))];
    }

    /// <summary>The series of each value of the key, from the pieces of each label set that carries it (one plan, not one a value).</summary>
    public async Task<IReadOnlyList<LabeledSeriesPoint>> SeriesByLabelAsync(ProfileQuery query, string key, long resolutionNanos, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Type is null or ProfileType.Trace || query.Limit > 0)
            return await LabeledSeriesPoint.FromFindAsync(this, query, key, cancellationToken).ConfigureAwait(false);

        await using var connection = Open();
        await using var tx = connection.BeginTransaction(deferred: true);
        var planner = new MergePlanner(connection, tx, withBodies: false);
        planner.Plan(query, resolutionNanos, eachLabelSet: true);
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        var points = new List<LabeledSeriesPoint>(planner.Pieces.Count);
        foreach (var piece in planner.Pieces)
        {
            if (!values.TryGetValue(piece.Labels, out var value))
                values[piece.Labels] = value = ValueOf(LabelSetKey.Decode(piece.Labels), key);
            if (value is not null)
                points.Add(new LabeledSeriesPoint(value, new SeriesPoint(piece.Time, piece.Profiles, piece.Value)));
        }

        return points;
    }

    private static string? ValueOf(IReadOnlyList<ProfileLabel> labels, string key)
    {
        foreach (var label in labels)
        {
            if (label.Key == key)
                return label.Value;
        }

        return null;
    }

    /// <summary>The pieces' bodies, read lazily: a raw one from the body log, a pre-merged one as planned.</summary>
    private IEnumerable<byte[]> ReadPieces(IReadOnlyList<MergePiece> pieces, CancellationToken cancellationToken)
    {
        using var bodies = _log.OpenReader();
        foreach (var piece in pieces)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return piece.Body ?? bodies.Read(piece.Segment, piece.Offset, piece.Length);
        }
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

    public long PendingBuckets => Scalar("SELECT count(*) FROM rollup_dirty");

    /// <summary>Minute pieces built from the profiles ingest had decoded, without decoding them again.</summary>
    public long MinutesFromIngest => _folds.Taken;

    public long RollupBytes => Scalar("SELECT coalesce(sum(length(body)), 0) FROM rollups");

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

    public async Task<ProfileMeta> WriteAsync(NewProfile profile, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var meta = new ProfileMeta(profile.Id ?? ProfileId.New(), profile.Service, profile.Type, profile.InstanceId,
            profile.Labels, profile.CreatedAtUnixNanos, body.Length, profile.Value);
        var labels = LabelSetKey.Encode(meta.Labels);
        if (profile.Decoded is { } decoded && profile.Type != ProfileType.Trace)
            _folds.Add(meta.Service, (int)meta.Type, labels, meta.Id, meta.CreatedAtUnixNanos, UnixNanos.From(_time.GetUtcNow()), decoded);
        // Not cancellable once queued: the write is in a batch and will be committed or fail as a whole.
        await _commits.CommitAsync(new PendingWrite(meta, labels, body)).ConfigureAwait(false);
        return meta;
    }

    public async Task<IReadOnlyList<ProfileMeta>> FindAsync(ProfileQuery query, CancellationToken cancellationToken)
    {
        await using var connection = Open();
        await using var command = connection.CreateCommand();
        command.CommandText = FindSql.Build(query, command.Parameters);

        var found = new List<ProfileMeta>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var meta = ReadMeta(reader);
            if (!query.MatchesLabels(meta.Labels))
                continue;
            found.Add(meta);
            if (found.Count == query.Limit)
                break;
        }

        if (query.Limit > 0)
            found.Reverse(); // the newest N were read newest first
        return found;
    }

    public async Task<IReadOnlyList<ProfileMeta>> GetAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var byId = new Dictionary<string, ProfileMeta>(ids.Count, StringComparer.Ordinal);
        await using var connection = Open();
        foreach (var chunk in ids.Chunk(IdChunk))
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {FindSql.MetaColumns} FROM profiles p WHERE p.id IN (SELECT value FROM json_each($ids))";
            command.Parameters.AddWithValue("$ids", JsonSerializer.Serialize(chunk, StorageJson.Default.StringArray));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var meta = ReadMeta(reader);
                byId[meta.Id] = meta;
            }
        }

        var result = new List<ProfileMeta>(byId.Count);
        foreach (var id in ids)
        {
            if (byId.TryGetValue(id, out var meta))
                result.Add(meta);
        }

        return result;
    }

    public async IAsyncEnumerable<byte[]> OpenAsync(IReadOnlyList<string> ids, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = Open();
        var places = new Dictionary<string, (long Segment, long Offset, int Length)>(IdChunk, StringComparer.Ordinal);
        using var bodies = _log.OpenReader();
        foreach (var chunk in ids.Chunk(IdChunk))
        {
            places.Clear();
            await using (var command = connection.CreateCommand())
            {
                command.CommandText = "SELECT p.id, p.segment, p.body_offset, p.size FROM profiles p WHERE p.id IN (SELECT value FROM json_each($ids))";
                command.Parameters.AddWithValue("$ids", JsonSerializer.Serialize(chunk, StorageJson.Default.StringArray));
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    places[reader.GetString(0)] = (reader.GetInt64(1), reader.GetInt64(2), reader.GetInt32(3));
            }

            foreach (var id in chunk)
            {
                if (places.TryGetValue(id, out var place))
                    yield return bodies.Read(place.Segment, place.Offset, place.Length);
            }
        }
    }

    public async Task<IReadOnlyList<string>> ListServicesAsync(CancellationToken cancellationToken)
    {
        await using var connection = Open();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT service FROM services ORDER BY service";
        var services = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            services.Add(reader.GetString(0));
        return services;
    }

    public async Task<IReadOnlyList<ProfileLabel>> ListLabelsAsync(string service, CancellationToken cancellationToken)
    {
        await using var connection = Open();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT key, value FROM profile_labels WHERE service = $service ORDER BY key, value";
        command.Parameters.AddWithValue("$service", service);
        var labels = new List<ProfileLabel>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            labels.Add(new ProfileLabel(reader.GetString(0), reader.GetString(1)));
        return labels;
    }

    public async Task<int> DeleteOlderThanAsync(long cutoffUnixNanos, long aggregateCutoffUnixNanos, CancellationToken cancellationToken)
    {
        await using var connection = Open();
        var written = ProfileId.FirstAt(cutoffUnixNanos);
        KeepPointedBodies(connection, cutoffUnixNanos, written);
        // Fine pieces go with the raw profiles of their time: not before a late arrival's (kept from its write).
        var fineCutoff = Math.Min(cutoffUnixNanos, OldestWrittenSince(connection, written));
        DeleteRollups(connection, fineCutoff, Math.Min(aggregateCutoffUnixNanos, fineCutoff));
        var deleted = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Small transactions, so that the writer never waits long for the lock.
            var batch = DeleteBatch(connection, cutoffUnixNanos, written);
            deleted += batch;
            if (batch < RetentionBatch)
                break;
        }

        if (deleted > 0)
            Execute(connection, "DELETE FROM services WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.service = services.service)");
        // Every pass, not only those that deleted: an earlier one may have been cut short before its files went.
        DeleteEmptySegments(connection);
        return deleted;
    }

    /// <summary>
    /// An hour or day piece of a single profile points at its raw body; before that body expires, the piece
    /// gets a copy of its bytes, so the aggregate outlives the raw profile as any other does.
    /// </summary>
    private void KeepPointedBodies(SqliteConnection connection, long cutoff, string written)
    {
        var pointed = new List<(long Id, long Segment, long Offset, int Length)>();
        using (var select = connection.CreateCommand())
        {
            select.CommandText = $"""
                SELECT r.id, p.segment, p.body_offset, p.size FROM rollups r JOIN profiles p ON p.seq = r.seq
                WHERE r.level >= {RollupLevel.Day - 1} AND p.created_at < $cutoff AND p.id < $written
                """;
            select.Parameters.AddWithValue("$cutoff", cutoff);
            select.Parameters.AddWithValue("$written", written);
            using var reader = select.ExecuteReader();
            while (reader.Read())
                pointed.Add((reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt32(3)));
        }

        using var bodies = _log.OpenReader();
        foreach (var chunk in pointed.Chunk(RetentionBatch))
        {
            using var tx = connection.BeginTransaction();
            using var update = connection.CreateCommand();
            update.Transaction = tx;
            update.CommandText = "UPDATE rollups SET body = $body, seq = NULL WHERE id = $id";
            var body = update.Parameters.Add("$body", SqliteType.Blob);
            var id = update.Parameters.Add("$id", SqliteType.Integer);
            foreach (var piece in chunk)
            {
                (body.Value, id.Value) = (bodies.Read(piece.Segment, piece.Offset, piece.Length), piece.Id);
                update.ExecuteNonQuery();
            }

            tx.Commit();
        }
    }

    /// <summary>
    /// Minute and ten-minute pieces go with the raw profiles they stand for (a piece that straddles the
    /// cutoff is rebuilt from what remains); hour and day pieces stay until the aggregate cutoff, and never
    /// go before the raw profiles do, since a bucket without a piece reads as empty.
    /// </summary>
    private static void DeleteRollups(SqliteConnection connection, long cutoff, long aggregateCutoff)
    {
        using var tx = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        var sql = new StringBuilder();
        for (var level = RollupLevel.Minute; level <= RollupLevel.Day; level++)
        {
            var fine = level < RollupLevel.Day - 1;
            var width = RollupLevel.Width(level);
            var before = fine ? cutoff : aggregateCutoff;
            if (before == long.MinValue)
                continue;
            sql.Append(System.Globalization.CultureInfo.InvariantCulture, $"DELETE FROM rollups WHERE level = {level} AND bucket <= {before} - {width};");
            if (fine)
            {
                sql.Append(System.Globalization.CultureInfo.InvariantCulture, $"""
                    INSERT OR IGNORE INTO rollup_dirty(set_id, level, bucket, generation)
                    SELECT set_id, level, bucket, 0 FROM rollups WHERE level = {level} AND bucket < {before} AND bucket > {before} - {width};
                    """);
            }
        }

        command.CommandText = sql.ToString();
        if (command.CommandText.Length > 0)
            command.ExecuteNonQuery();
        tx.Commit();
    }

    private void DeleteEmptySegments(SqliteConnection connection)
    {
        var empty = new List<long>();
        using (var select = connection.CreateCommand())
        {
            select.CommandText = "SELECT id FROM segments WHERE live <= 0 AND id <> $active";
            select.Parameters.AddWithValue("$active", _log.ActiveSegment);
            using var reader = select.ExecuteReader();
            while (reader.Read())
                empty.Add(reader.GetInt64(0));
        }

        foreach (var segment in empty)
        {
            // Row first: a crash between the two leaves a file that the next start deletes.
            using var delete = connection.CreateCommand();
            delete.CommandText = "DELETE FROM segments WHERE id = $id AND live <= 0";
            delete.Parameters.AddWithValue("$id", segment);
            delete.ExecuteNonQuery();
            _log.Delete(segment);
        }
    }

    /// <summary>The earliest time of a profile written at or after the id <paramref name="written"/>; long.MaxValue when none.</summary>
    private static long OldestWrittenSince(SqliteConnection connection, string written)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT MIN(created_at) FROM profiles WHERE id >= $written";
        command.Parameters.AddWithValue("$written", written);
        return command.ExecuteScalar() is long oldest ? oldest : long.MaxValue;
    }

    private static int DeleteBatch(SqliteConnection connection, long cutoff, string written)
    {
        using var tx = connection.BeginTransaction();
        var expired = new List<(long Seq, string Service, long CreatedAt, string Labels, long Segment, int Type)>();
        using (var select = connection.CreateCommand())
        {
            select.CommandText = "SELECT seq, service, created_at, labels, segment, type FROM profiles WHERE created_at < $cutoff AND id < $written LIMIT $n";
            select.Parameters.AddWithValue("$cutoff", cutoff);
            select.Parameters.AddWithValue("$written", written);
            select.Parameters.AddWithValue("$n", RetentionBatch);
            using var reader = select.ExecuteReader();
            while (reader.Read())
                expired.Add((reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), reader.GetInt64(4), reader.GetInt32(5)));
        }

        using var deleteProfile = connection.CreateCommand();
        deleteProfile.CommandText = "DELETE FROM profiles WHERE seq = $seq; UPDATE segments SET live = live - 1 WHERE id = $segment;";
        var seqParameter = deleteProfile.Parameters.Add("$seq", SqliteType.Integer);
        var segmentParameter = deleteProfile.Parameters.Add("$segment", SqliteType.Integer);
        using var deleteLabel = connection.CreateCommand();
        deleteLabel.CommandText = "DELETE FROM profile_labels WHERE service = $s AND key = $k AND value = $v AND type = $type AND created_at = $t AND seq = $seq";
        var s = deleteLabel.Parameters.Add("$s", SqliteType.Text);
        var k = deleteLabel.Parameters.Add("$k", SqliteType.Text);
        var v = deleteLabel.Parameters.Add("$v", SqliteType.Text);
        var t = deleteLabel.Parameters.Add("$t", SqliteType.Integer);
        var labelSeq = deleteLabel.Parameters.Add("$seq", SqliteType.Integer);
        var labelType = deleteLabel.Parameters.Add("$type", SqliteType.Integer);

        foreach (var row in expired)
        {
            seqParameter.Value = row.Seq;
            segmentParameter.Value = row.Segment;
            deleteProfile.ExecuteNonQuery();
            foreach (var label in LabelSetKey.Decode(row.Labels))
            {
                (s.Value, k.Value, v.Value, t.Value, labelSeq.Value, labelType.Value) = (row.Service, label.Key, label.Value, row.CreatedAt, row.Seq, row.Type);
                deleteLabel.ExecuteNonQuery();
            }
        }

        tx.Commit();
        return expired.Count;
    }

    private static ProfileMeta ReadMeta(SqliteDataReader r) => new(
        Id: r.GetString(0),
        Service: r.GetString(1),
        Type: (ProfileType)r.GetInt32(2),
        InstanceId: r.GetString(3),
        Labels: LabelSetKey.Decode(r.GetString(4)),
        CreatedAtUnixNanos: r.GetInt64(5),
        Size: r.GetInt64(6),
        Value: r.GetInt64(7));

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
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

    private sealed class PendingWrite(ProfileMeta meta, string labels, ReadOnlyMemory<byte> body)
    {
        public ProfileMeta Meta { get; } = meta;

        /// <summary>The labels as the store encodes them (LabelSetKey), made once per write.</summary>
        public string Labels { get; } = labels;
        public ReadOnlyMemory<byte> Body { get; } = body;
    }

    /// <summary>The prepared inserts of the write loop, on the single writer connection.</summary>
    private sealed class BatchWriter : IBatchCommitter<PendingWrite>, IDisposable
    {
        private readonly ILogger _logger;
        private readonly TimeProvider _time;
        private readonly SqliteConnection _connection;
        private readonly SqliteCommand _profile;
        private readonly SqliteCommand _segment;
        private readonly BodyLog _log;
        private readonly SqliteCommand _label;
        private readonly SqliteCommand _service;
        private readonly SqliteCommand _labelSet;
        private readonly SqliteCommand _dirty;
        private readonly Dictionary<(string Service, int Type, string Labels), long> _labelSets = [];
        private readonly Dictionary<(long Set, int Level, long Bucket), long> _marks = [];
        private long _nextSeq;

        public BatchWriter(SqliteConnection connection, BodyLog log, ILogger logger, TimeProvider time)
        {
            _time = time;
            _logger = logger;
            _connection = connection;
            _log = log;
            _profile = Prepare("INSERT INTO profiles(seq, id, service, type, created_at, instance_id, labels, size, segment, body_offset, value) VALUES ($seq, $id, $service, $type, $created_at, $instance_id, $labels, $size, $segment, $offset, $value)",
                "$seq", "$id", "$service", "$type", "$created_at", "$instance_id", "$labels", "$size", "$segment", "$offset", "$value");
            _segment = Prepare("INSERT INTO segments(id, live, end_offset) VALUES ($id, $count, $end) ON CONFLICT(id) DO UPDATE SET live = live + excluded.live, end_offset = excluded.end_offset",
                "$id", "$count", "$end");
            _label = Prepare("INSERT OR IGNORE INTO profile_labels(service, key, value, type, created_at, seq) VALUES ($service, $key, $value, $type, $created_at, $seq)",
                "$service", "$key", "$value", "$type", "$created_at", "$seq");
            _service = Prepare("INSERT OR IGNORE INTO services(service) VALUES ($service)", "$service");
            _labelSet = Prepare("INSERT INTO label_sets(service, type, labels) VALUES ($service, $type, $labels) ON CONFLICT(service, type, labels) DO UPDATE SET labels = labels RETURNING id",
                "$service", "$type", "$labels");
            _dirty = Prepare("""
                INSERT INTO rollup_dirty(set_id, level, bucket, generation, touched) VALUES ($set, $level, $bucket, $generation, $touched)
                ON CONFLICT(set_id, level, bucket) DO UPDATE SET generation = excluded.generation, touched = excluded.touched
                """, "$set", "$level", "$bucket", "$generation", "$touched");
            using var max = connection.CreateCommand();
            max.CommandText = "SELECT coalesce(max(seq), 0) FROM profiles";
            _nextSeq = (long)max.ExecuteScalar()! + 1;
        }

        private SqliteCommand Prepare(string sql, params string[] names)
        {
            var command = _connection.CreateCommand();
            command.CommandText = sql;
            foreach (var name in names)
                command.Parameters.Add(new SqliteParameter { ParameterName = name });
            return command;
        }

        public object? Prepare(IReadOnlyList<PendingWrite> batch) => null;

        /// <summary>One synced commit for the batch, on the write loop (SQLite has one writer).</summary>
        public Task CommitAsync(IReadOnlyList<PendingWrite> batch, object? prepared)
        {
            try
            {
                Commit(batch);
                Log.BatchCommitted(_logger, batch.Count);
                return Task.CompletedTask;
            }
            catch (Exception e)
            {
                Log.BatchFailed(_logger, batch.Count, e);
                throw new StorageUnavailableException(Backend, "the embedded store could not commit the write", e);
            }
        }

        private void Commit(IReadOnlyList<PendingWrite> batch)
        {
            var firstSeq = _nextSeq;
            var (firstSegment, firstEnd) = (_log.ActiveSegment, _log.ActiveEnd);
            try
            {
                // Bodies first, synced; then the rows that point at them, in one synced transaction.
                var placements = new (long Segment, long Offset)[batch.Count];
                _log.Append([.. batch.Select(w => w.Body)], placements);

                using var tx = _connection.BeginTransaction();
                for (var i = 0; i < batch.Count; i++)
                {
                    var meta = batch[i].Meta;
                    var seq = _nextSeq++;
                    var labels = batch[i].Labels;
                    Run(_profile, tx, seq, meta.Id, meta.Service, (int)meta.Type, meta.CreatedAtUnixNanos, meta.InstanceId, labels, meta.Size,
                        placements[i].Segment, placements[i].Offset, meta.Value);
                    foreach (var label in meta.Labels)
                        Run(_label, tx, meta.Service, label.Key, label.Value, (int)meta.Type, meta.CreatedAtUnixNanos, seq);
                    if (meta.Type != ProfileType.Trace)
                    {
                        // In this transaction: a profile acknowledged is a profile its buckets know to rebuild.
                        MarkDirty(LabelSet(tx, meta.Service, (int)meta.Type, labels), meta.CreatedAtUnixNanos, seq);
                        MarkDirty(LabelSet(tx, meta.Service, (int)meta.Type, RollupLevel.AllLabels), meta.CreatedAtUnixNanos, seq);
                    }
                    // Every time, not cached: retention may have removed the service since.
                    Run(_service, tx, meta.Service);
                }

                // Per segment touched: how many profiles it gained, and where its committed bytes now end.
                var segments = new SortedDictionary<long, (int Count, long End)>();
                for (var i = 0; i < batch.Count; i++)
                {
                    var (segment, offset) = placements[i];
                    segments.TryGetValue(segment, out var seen);
                    segments[segment] = (seen.Count + 1, Math.Max(seen.End, offset + batch[i].Body.Length));
                }

                foreach (var (segment, (count, end)) in segments)
                    Run(_segment, tx, segment, count, end);
                // Once per bucket a batch touched, with its latest profile: most of a batch shares a few buckets.
                var touched = UnixNanos.From(_time.GetUtcNow());
                foreach (var ((set, level, bucket), seq) in _marks)
                    Run(_dirty, tx, set, level, bucket, seq, touched);
                tx.Commit();
                _marks.Clear();
            }
            catch
            {
                _nextSeq = firstSeq;
                _log.Rewind(firstSegment, firstEnd);
                _labelSets.Clear(); // ids made in the rolled-back transaction are gone
                _marks.Clear();
                throw;
            }
        }

        private long LabelSet(SqliteTransaction tx, string service, int type, string labels)
        {
            if (_labelSets.TryGetValue((service, type, labels), out var id))
                return id;
            _labelSet.Transaction = tx;
            (_labelSet.Parameters[0].Value, _labelSet.Parameters[1].Value, _labelSet.Parameters[2].Value) = (service, type, labels);
            id = (long)_labelSet.ExecuteScalar()!;
            _labelSets[(service, type, labels)] = id;
            return id;
        }

        private void MarkDirty(long setId, long createdAt, long seq)
        {
            for (var level = RollupLevel.Minute; level <= RollupLevel.Day; level++)
                _marks[(setId, level, RollupLevel.BucketOf(level, createdAt))] = seq; // seqs only grow within a batch
        }

        private static void Run(SqliteCommand command, SqliteTransaction tx, params object[] values)
        {
            command.Transaction = tx;
            for (var i = 0; i < values.Length; i++)
                command.Parameters[i].Value = values[i];
            command.ExecuteNonQuery();
        }

        public void Dispose()
        {
            _profile.Dispose();
            _segment.Dispose();
            _label.Dispose();
            _service.Dispose();
            _labelSet.Dispose();
            _dirty.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Trace, Message = "Committed {Count} profiles in one transaction")]
        public static partial void BatchCommitted(ILogger logger, int count);

        [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Could not commit a batch of {Count} profiles")]
        public static partial void BatchFailed(ILogger logger, int count, Exception exception);
    }
}
