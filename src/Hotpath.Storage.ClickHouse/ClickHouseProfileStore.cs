using Hotpath.Pprof;
using Hotpath.Storage.Pieces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotpath.Storage.ClickHouse;

/// <summary>
/// Profiles in ClickHouse, over its HTTP interface. <c>profiles</c> holds metadata and the body (served
/// byte for byte), <c>profile_ids</c> finds a profile's sort key by id; <c>bucket_pieces</c> hold pre-merged
/// pprof of 10 minutes and hours (ClickHouseProfileStore.Pieces.cs), which merges read where they hold exactly what is stored.
/// Every table is partitioned by day (retention drops whole days) and ordered for service/type/time.
/// Concurrent writes are batched into one RowBinary insert per table, the next batch forming while one is in
/// flight; a write parses nothing (the pieces are built from the stored bodies once a bucket is over).
/// Given an object store (S3), the bodies go there instead, a batch's bodies as one object read back by
/// range (<c>body_object</c>, <c>body_offset</c>), and ClickHouse holds metadata, index and pieces only.
/// </summary>
public sealed partial class ClickHouseProfileStore : IProfileStore, IRollupStatus, IPieceBuilder, IIngestFolding, IAsyncDisposable
{
    private const string BackendName = ClickHouseHttp.Backend;
    private const int MaxBatch = 2048;
    private const int MaxPending = 4096;

    // While the schema cannot be made, requests fail at once for this long before the next attempt.
    private static readonly TimeSpan RetryStartAfter = TimeSpan.FromSeconds(2);

    private readonly ClickHouseHttp _client;
    private readonly StartupGate _schema;
    private readonly string _db;
    private readonly GroupCommit<PendingWrite> _commits;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private int _disposed;

    // Reads of bodies an object holds side by side are one ranged read when the gap between them is at most this.
    private const int MaxReadGap = 64 * 1024;

    private readonly IObjectStore? _bodies;

    // A label set's and a service's ten minutes, folded as ingest decodes them: the finest pieces, and the only ones read raw.
    private readonly IngestFolds _folds;

    /// <param name="bodies">Where bodies go instead of the profiles table; the store owns it and disposes it.</param>
    /// <param name="time">The clock of piece passes and build stamps (null: the system's).</param>
    public ClickHouseProfileStore(ClickHouseStoreOptions options, ILogger<ClickHouseProfileStore>? logger = null, IObjectStore? bodies = null,
        TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _time = time ?? TimeProvider.System;
        _bodies = bodies;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _db = options.Database;
        _client = new ClickHouseHttp(options);
        _folds = new IngestFolds(options.IngestFolds, minutes: false);
        _schema = new StartupGate(CreateSchemaAsync, RetryStartAfter);
        _commits = new GroupCommit<PendingWrite>(BackendName, MaxPending, MaxBatch, new Batches(this));
    }

    public string Backend => BackendName;

    /// <summary>Answers when the schema is there and ClickHouse answers a query (and the object store, when bodies go there).</summary>
    public async Task ProbeAsync(CancellationToken cancellationToken)
    {
        await QueryAsync("SELECT 1", cancellationToken);
        if (_bodies is not null)
            await _bodies.ProbeAsync(cancellationToken);
    }

    /// <summary>A label set as one dictionary key (pieces and profiles of the same set compare equal, no two sets alike).</summary>
    private static string LabelKey(IReadOnlyList<ProfileLabel> labels) => LabelSetKey.Encode(labels);

    private static long FloorDiv(long value, long divisor) => Math.DivRem(value, divisor, out var rest) - (rest < 0 ? 1 : 0);

    /// <summary>A ClickHouse string literal: backslash and quote escaped.</summary>
    private static string Literal(string value) => "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";

    private static uint Seconds(long unixNanos) => (uint)Math.Clamp(unixNanos / 1_000_000_000, 0, uint.MaxValue);

    public async ValueTask DisposeAsync()
    {
        // Several service registrations may share this instance; only the first dispose does the work.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _commits.DisposeAsync();
        _client.Dispose();
        (_bodies as IDisposable)?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "ClickHouse did not take a batch of {Count} writes; they are answered 503")]
        public static partial void BatchFailed(ILogger logger, int count, Exception exception);
    }
}
