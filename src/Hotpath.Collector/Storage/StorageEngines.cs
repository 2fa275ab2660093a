using Hotpath.Collector.Hosting;
using Hotpath.Storage;
using Hotpath.Storage.ClickHouse;
using Hotpath.Storage.Journal;
using Hotpath.Storage.S3;
using Hotpath.Storage.Sqlite;

namespace Hotpath.Collector.Storage;

/// <summary>
/// The engines Storage:Type names ("sqlite", "s3", "clickhouse", or a comma list), made at start and closed at
/// shutdown; several become one <see cref="MultiProfileStore"/>, except that "s3" with "clickhouse" is one
/// engine: ClickHouse with its bodies in S3. Making one reaches no
/// server: a remote engine prepares itself on first use, so that one that is down delays nothing else.
/// </summary>
public sealed class StorageEngines : IStorageSize, IRollupStatus, IJournalStatus, IAsyncDisposable
{
    public static readonly IReadOnlyList<string> Known = ["sqlite", "s3", "clickhouse"];

    private readonly List<IProfileStore> _engines = [];
    private readonly List<IPieceBuilder> _pieceBuilders = [];

    public StorageEngines(StorageOptions options, ILoggerFactory loggers, TimeProvider time)
    {
        // S3 beside ClickHouse holds ClickHouse's bodies: one engine, not two copies.
        var bodiesInS3 = options.Types.Contains("s3") && options.Types.Contains("clickhouse");
        foreach (var type in options.Types.Where(t => !(bodiesInS3 && t == "s3")))
        {
            _engines.Add(type switch
            {
                "sqlite" => Building(new SqliteProfileStore(new SqliteStoreOptions { DataDirectory = options.DataDirectory }, loggers.CreateLogger<SqliteProfileStore>(), time)),
                "s3" => new S3ProfileStore(options.S3 with { Timeout = options.Timeout }),
                "clickhouse" => Journaled(Building(new ClickHouseProfileStore(options.ClickHouse with { Timeout = options.Timeout }, loggers.CreateLogger<ClickHouseProfileStore>(),
                    bodiesInS3 ? new S3ObjectStore(options.S3 with { Timeout = options.Timeout }) : null, time)), options, loggers),
                _ => throw new InvalidOperationException($"Storage:Type \"{type}\" is not one of {string.Join(", ", Known)}"),
            });
        }

        Store = _engines.Count == 1 ? _engines[0] : new MultiProfileStore(_engines);
    }

    /// <summary>The engines that pre-merge pieces (behind a journal or not), whose passes <c>PieceBuildService</c> runs.</summary>
    public IReadOnlyList<IPieceBuilder> PieceBuilders => _pieceBuilders;

    private T Building<T>(T engine)
        where T : IPieceBuilder
    {
        _pieceBuilders.Add(engine);
        return engine;
    }

    public IProfileStore Store { get; }

    /// <summary>A remote engine behind its write journal, unless Storage:JournalMaxBytes is 0.</summary>
    private static IProfileStore Journaled(IProfileStore engine, StorageOptions options, ILoggerFactory loggers) =>
        options.JournalMaxBytes == 0
            ? engine
            : new JournaledProfileStore(engine, Path.Combine(options.JournalDirectory ?? Path.Combine(options.DataDirectory, "journal"), engine.Backend),
                options.JournalMaxBytes, loggers.CreateLogger<JournaledProfileStore>());

    /// <summary>Each engine on its own.</summary>
    public IReadOnlyList<IProfileStore> Engines => _engines;

    /// <summary>Probes every engine at once: each one's name, and why it is unavailable (null when it answered).</summary>
    public Task<(string Backend, string? Error)[]> ProbeAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(_engines.Select(async engine =>
        {
            try
            {
                await engine.ProbeAsync(cancellationToken);
                return (engine.Backend, (string?)null);
            }
            catch (StorageUnavailableException e)
            {
                return (engine.Backend, e.Message);
            }
        }));

    /// <summary>The bytes the local engines and journals take; remote engines are not counted.</summary>
    public long SizeBytes => _engines.OfType<IStorageSize>().Sum(e => e.SizeBytes);

    public long PendingBuckets => _engines.OfType<IRollupStatus>().Sum(e => e.PendingBuckets);

    public long RollupBytes => _engines.OfType<IRollupStatus>().Sum(e => e.RollupBytes);

    public int PendingProfiles => _engines.OfType<IJournalStatus>().Sum(e => e.PendingProfiles);

    public async ValueTask DisposeAsync()
    {
        foreach (var engine in _engines)
        {
            if (engine is IAsyncDisposable asyncDisposable)
                await asyncDisposable.DisposeAsync();
            else if (engine is IDisposable disposable)
                disposable.Dispose();
        }
    }
}
