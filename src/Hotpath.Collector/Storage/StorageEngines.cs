using Hotpath.Storage;

namespace Hotpath.Collector.Storage;

/// <summary>
/// The engines Storage:Type names (a comma list of the registered <see cref="IStorageEngine"/>s), opened at start
/// and closed at shutdown; several become one <see cref="MultiProfileStore"/>. Opening one reaches no server: a
/// remote engine prepares itself on first use, so that one that is down delays nothing else.
/// </summary>
public sealed class StorageEngines : IStorageSize, IRollupStatus, IJournalStatus, IAsyncDisposable
{
    private readonly List<IProfileStore> _engines = [];
    private readonly List<IPieceBuilder> _pieceBuilders = [];
    private readonly List<IJournalShipping> _journals = [];

    public StorageEngines(StorageOptions options, IEnumerable<IStorageEngine> registered, ILoggerFactory loggers, TimeProvider time)
    {
        var byName = registered.ToDictionary(e => e.Name, StringComparer.Ordinal);
        foreach (var type in options.Types)
        {
            if (!byName.TryGetValue(type, out var engine))
                throw new InvalidOperationException($"Storage:Type \"{type}\" is not one of {string.Join(", ", byName.Keys)}");
            if (engine.Open(options, loggers, time) is not { } opened)
                continue;
            _engines.Add(opened.Store);
            if (opened.Pieces is { } pieces)
                _pieceBuilders.Add(pieces);
            if (opened.Journal is { } journal)
                _journals.Add(journal);
        }

        Store = _engines.Count == 1 ? _engines[0] : new MultiProfileStore(_engines);
    }

    /// <summary>The engines that pre-merge pieces (behind a journal or not), whose passes <c>PieceBuildService</c> runs.</summary>
    public IReadOnlyList<IPieceBuilder> PieceBuilders => _pieceBuilders;

    /// <summary>The write journals in front of remote engines, whose shipping <c>JournalShipService</c> runs.</summary>
    public IReadOnlyList<IJournalShipping> Journals => _journals;

    public IProfileStore Store { get; }

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
