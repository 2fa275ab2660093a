using Hotpath.Pprof;
using Hotpath.Storage.Pieces;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Hotpath.Storage.Sqlite;

/// <summary>Writes: queued, then committed together by the one writer connection (group commit).</summary>
public sealed partial class SqliteProfileStore
{
    public async Task<ProfileMeta> WriteAsync(NewProfile profile, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var meta = new ProfileMeta(profile.Id ?? ProfileId.New(), profile.Service, profile.Type, profile.InstanceId,
            profile.Labels, profile.CreatedAtUnixNanos, body.Length, profile.Value);
        var labels = LabelSetKey.Encode(meta.Labels);
        if (profile.Decoded is { } decoded && profile.Type != ProfileType.Trace)
            _folds.Add(meta.Service, (int)meta.Type, labels, meta.Labels, meta.Id, meta.CreatedAtUnixNanos, UnixNanos.From(_time.GetUtcNow()), decoded);
        // Not cancellable once queued: the write is in a batch and will be committed or fail as a whole.
        await _commits.CommitAsync(new PendingWrite(meta, labels, body)).ConfigureAwait(false);
        return meta;
    }

    private sealed class PendingWrite(ProfileMeta meta, string labels, ReadOnlyMemory<byte> body)
    {
        public ProfileMeta Meta { get; } = meta;

        /// <summary>The labels as the store encodes them (LabelSetKey), made once per write.</summary>
        public string Labels { get; } = labels;
        public ReadOnlyMemory<byte> Body { get; } = body;
    }

    /// <summary>The prepared inserts of the write loop, on the single writer connection.</summary>
    private sealed partial class BatchWriter : IBatchCommitter<PendingWrite>, IDisposable
    {
        private readonly ILogger _logger;
        private readonly TimeProvider _time;
        private readonly IngestFolds _folds;
        private readonly SqliteConnection _connection;
        private readonly SqliteCommand _profile;
        private readonly SqliteCommand _segment;
        private readonly BodyLog _log;
        private readonly SqliteCommand _label;
        private readonly SqliteCommand _service;
        private readonly SqliteCommand _labelSet;
        private readonly SqliteCommand _dirty;
        private readonly SqliteCommand _pointer;
        private readonly Dictionary<(string Service, int Type, string Labels), long> _labelSets = [];
        private readonly Dictionary<(long Set, int Level, long Bucket), long> _marks = [];
        private readonly Dictionary<(long Set, long Minute), (long Seq, long Value, int Profiles)> _minutes = [];
        private long _nextSeq;

        public BatchWriter(SqliteConnection connection, BodyLog log, IngestFolds folds, ILogger logger, TimeProvider time)
        {
            _time = time;
            _folds = folds;
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
            // A label set's minute of one profile is a pointer to it: written here, it costs the builder nothing.
            _pointer = Prepare($$"""
                INSERT INTO rollups(set_id, level, bucket, profiles, value, seq, body) SELECT $set, {{BucketGrid.Minute}}, $bucket, 1, $value, $seq, NULL
                WHERE NOT EXISTS (SELECT 1 FROM rollup_dirty WHERE set_id = $set AND level = {{BucketGrid.Minute}} AND bucket = $bucket)
                ON CONFLICT(set_id, level, bucket) DO NOTHING
                """, "$set", "$bucket", "$value", "$seq");
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
                        var set = LabelSet(tx, meta.Service, (int)meta.Type, labels);
                        var minute = BucketGrid.Floor(BucketGrid.Minute, meta.CreatedAtUnixNanos);
                        _minutes[(set, minute)] = _minutes.TryGetValue((set, minute), out var earlier) ? (seq, 0, earlier.Profiles + 1) : (seq, meta.Value, 1);
                        MarkDirty(set, meta.CreatedAtUnixNanos, seq, BucketGrid.TenMinutes);
                        MarkDirty(LabelSet(tx, meta.Service, (int)meta.Type, BucketGrid.AllLabels), meta.CreatedAtUnixNanos, seq, BucketGrid.Minute);
                        foreach (var group in GroupsOf(tx, meta.Service, (int)meta.Type, set))
                            MarkDirty(group, meta.CreatedAtUnixNanos, seq, BucketGrid.Minute);
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
                foreach (var ((set, minute), (seq, value, profiles)) in _minutes)
                {
                    // A minute with a piece or a mark already, or several profiles, is merged by the builder.
                    if (profiles > 1 || Run(_pointer, tx, set, minute, value, seq) == 0)
                        _marks[(set, BucketGrid.Minute, minute)] = seq;
                }

                foreach (var ((set, level, bucket), seq) in _marks)
                    Run(_dirty, tx, set, level, bucket, seq, touched);
                tx.Commit();
                _marks.Clear();
                _minutes.Clear();
            }
            catch
            {
                _nextSeq = firstSeq;
                _log.Rewind(firstSegment, firstEnd);
                _labelSets.Clear(); // ids made in the rolled-back transaction are gone
                _setGroups.Clear();
                _marks.Clear();
                _minutes.Clear();
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

        private void MarkDirty(long setId, long createdAt, long seq, int finest)
        {
            for (var level = finest; level <= BucketGrid.Day; level++)
                _marks[(setId, level, BucketGrid.Floor(level, createdAt))] = seq; // seqs only grow within a batch
        }

        private static int Run(SqliteCommand command, SqliteTransaction tx, params object[] values)
        {
            command.Transaction = tx;
            for (var i = 0; i < values.Length; i++)
                command.Parameters[i].Value = values[i];
            return command.ExecuteNonQuery();
        }

        public void Dispose()
        {
            _profile.Dispose();
            _segment.Dispose();
            _label.Dispose();
            _service.Dispose();
            _labelSet.Dispose();
            _dirty.Dispose();
            _pointer.Dispose();
        }
    }
}
