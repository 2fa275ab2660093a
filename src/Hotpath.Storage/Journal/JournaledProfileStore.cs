using System.Runtime.CompilerServices;
using Hotpath.Pprof;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotpath.Storage.Journal;

/// <summary>
/// A remote engine behind a local <see cref="WriteJournal"/>: a write is acknowledged once it is synced to
/// the journal (group commit, one sync per batch), and a shipping loop hands the engine what the journal
/// holds in large batches, thousands of profiles per insert instead of the handful that are waiting on
/// their connections. Reads are the engine's plus what is still in the journal (by id, so nothing counts
/// twice), so the writer reads its own writes at once and others once a shipment lands (well within a
/// second while the engine keeps up). Writes are taken while the engine is known to be up: from a first
/// probe until a shipment fails and a probe after it fails too (one dropped connection is not an engine down),
/// and again once a shipment or a probe succeeds; meanwhile they are refused
/// with the engine's 503, as reads are (what was acknowledged before the failure showed stays in the
/// journal and is shipped when the engine is back). At most <c>maxBytes</c> wait in the journal; past that,
/// writes get 503 too. After a crash the journal ships again what it holds, leaving out what the engine
/// already has. It owns the engine, and disposes it after the last shipment.
/// </summary>
public sealed partial class JournaledProfileStore : IProfileStore, IStorageSize, IRollupStatus, IJournalStatus, IJournalShipping, IAsyncDisposable
{
    private const int MaxPendingAppends = 4096;
    private const int MaxShipment = 2048;
    private const long MaxShipmentBytes = 64L << 20;
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);

    // At most four shipments a second unless one is full: each is a part ClickHouse writes and later merges,
    // and its merges took half its CPU at 1,400 profiles/s with shipments as fast as they came (bench/README.md).
    private static readonly TimeSpan ShipEvery = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan DrainAtStop = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ShipWait = TimeSpan.FromSeconds(10);

    private readonly IProfileStore _engine;
    private readonly WriteJournal _journal;
    private readonly long _maxBytes;
    private readonly ILogger _logger;
    private readonly GroupCommit<Append> _appends;
    private readonly Lock _gate = new();
    // Acknowledged and not shipped yet, oldest first; the id index answers reads by id.
    private readonly LinkedList<JournalEntry> _pending = new();
    private readonly Dictionary<string, LinkedListNode<JournalEntry>> _byId = new(StringComparer.Ordinal);
    // Released once per write that finds the loop not signalled yet, so the count stays small.
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly CancellationTokenSource _stopping = new();
    private Task _shipping = Task.CompletedTask;
    private int _signaled;
    private Task? _firstProbe;
    private volatile StorageUnavailableException? _down;
    private int _disposed;

    public JournaledProfileStore(IProfileStore engine, string directory, long maxBytes, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        _engine = engine;
        _maxBytes = maxBytes;
        _logger = logger ?? NullLogger.Instance;
        _journal = new WriteJournal(directory);
        foreach (var entry in _journal.Recovered)
            _byId[entry.Meta.Id] = _pending.AddLast(entry);
        if (_journal.Recovered.Count > 0)
            Log.Replaying(_logger, _journal.Recovered.Count, engine.Backend);
        _appends = new GroupCommit<Append>(engine.Backend + " journal", MaxPendingAppends, MaxPendingAppends, new Appender(this));
    }

    /// <summary>
    /// Ships what the journal holds to the engine, shipment after shipment, until <paramref name="stoppingToken"/>
    /// is cancelled or the store disposed; then ships what it can for a few seconds more and leaves the rest in the
    /// journal for the next start. The host runs it (a hosted service), so the store starts no work of its own.
    /// </summary>
    /// <exception cref="InvalidOperationException">It is shipping already.</exception>
    public Task ShipAsync(CancellationToken stoppingToken)
    {
        lock (_gate)
        {
            if (!_shipping.IsCompleted)
                throw new InvalidOperationException($"the {Backend} journal is shipping already");
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            return _shipping = Task.Run(() => ShipLoopAsync(stoppingToken), CancellationToken.None);
        }
    }

    public string Backend => _engine.Backend;

    /// <summary>Profiles acknowledged and not in the engine yet.</summary>
    public int PendingProfiles
    {
        get
        {
            lock (_gate)
                return _pending.Count;
        }
    }

    /// <summary>The journal's files on disk.</summary>
    public long SizeBytes => _journal.SizeBytes;

    public long PendingBuckets => (_engine as IRollupStatus)?.PendingBuckets ?? 0;

    public long RollupBytes => (_engine as IRollupStatus)?.RollupBytes ?? 0;

    public Task ProbeAsync(CancellationToken cancellationToken) => _engine.ProbeAsync(cancellationToken);

    public async Task<ProfileMeta> WriteAsync(NewProfile profile, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (_journal.LiveBytes + body.Length > _maxBytes)
        {
            throw new StorageUnavailableException(Backend,
                $"the journal already holds {_journal.LiveBytes >> 20} MiB that {Backend} has not taken (Storage:JournalMaxBytes); retry once it has");
        }

        if (_down is { } down)
            throw new StorageUnavailableException(Backend, down.Message, down);
        await FirstProbeAsync(cancellationToken).ConfigureAwait(false);

        var meta = new ProfileMeta(profile.Id ?? ProfileId.New(), profile.Service, profile.Type, profile.InstanceId, profile.Labels,
            profile.CreatedAtUnixNanos, body.Length, profile.Value);
        // Folded now, while ingest's decoding is at hand: the engine takes the fold once the journal has shipped it.
        if (profile.Decoded is { } decoded && _engine is IIngestFolding folding)
            folding.Fold(meta, decoded);
        await _appends.CommitAsync(new Append(meta, body));
        if (Interlocked.Exchange(ref _signaled, 1) == 0)
            _wake.Release();
        return meta;
    }

    /// <summary>
    /// The engine is asked once whether it is there before a first write is acknowledged; the writes that come
    /// meanwhile wait for that one answer (two hundred at once had opened as many connections), and a failed one
    /// is asked again by the next write.
    /// </summary>
    private async Task FirstProbeAsync(CancellationToken cancellationToken)
    {
        Task probe;
        lock (_gate)
            probe = _firstProbe ??= Task.Run(() => _engine.ProbeAsync(CancellationToken.None), CancellationToken.None);
        try
        {
            await probe.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch when (probe.IsFaulted || probe.IsCanceled)
        {
            lock (_gate)
            {
                if (_firstProbe == probe)
                    _firstProbe = null;
            }

            throw;
        }
    }

    /// <summary>Appends a batch to the journal and makes it pending, in one sync.</summary>
    private sealed class Appender(JournaledProfileStore store) : IBatchCommitter<Append>
    {
        public object? Prepare(IReadOnlyList<Append> batch) => null;

        public Task CommitAsync(IReadOnlyList<Append> batch, object? prepared)
        {
            IReadOnlyList<JournalEntry> entries;
            try
            {
                entries = store._journal.Append([.. batch.Select(a => (a.Meta, a.Body))]);
            }
            catch (IOException e)
            {
                throw new StorageUnavailableException(store.Backend, $"the local journal cannot take writes: {e.Message}", e);
            }

            lock (store._gate)
            {
                foreach (var entry in entries)
                    store._byId[entry.Meta.Id] = store._pending.AddLast(entry);
            }

            return Task.CompletedTask;
        }
    }

    private async Task ShipLoopAsync(CancellationToken stoppingToken)
    {
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, _stopping.Token);
        var stop = stopping.Token;
        // Recovered entries may be in the engine already (a crash after it took them, before they were released).
        var uncertain = _journal.Recovered.Count > 0;
        var stopAt = long.MaxValue;
        var shipped = 0L;
        while (true)
        {
            Volatile.Write(ref _signaled, 0);
            var shipment = Oldest();
            var linger = ShipEvery - TimeSpan.FromMilliseconds(Environment.TickCount64 - shipped);
            if (shipment.Count is > 0 and < MaxShipment && linger > TimeSpan.Zero && !stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(linger, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // stopping: ship at once
                }

                shipment = Oldest();
            }

            if (shipment.Count == 0)
            {
                if (stop.IsCancellationRequested)
                    return;
                try
                {
                    if (_down is null)
                        await _wake.WaitAsync(stop).ConfigureAwait(false);
                    else
                        await ProbeWhileDownAsync(stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // stopping: one more round ships what came meanwhile
                }

                continue;
            }

            if (stop.IsCancellationRequested && stopAt == long.MaxValue)
                stopAt = Environment.TickCount64 + (long)DrainAtStop.TotalMilliseconds;
            try
            {
                shipped = Environment.TickCount64;
                if (uncertain)
                    shipment = await LeaveOutShippedAsync(shipment).ConfigureAwait(false);
                await ShipAsync(shipment).ConfigureAwait(false);
                uncertain = false;
                _down = null;
            }
            catch (Exception e)
            {
                // Unavailable, or a fault of the engine's: what it took of the shipment is not known, so the
                // next try asks it first.
                uncertain = true;
                Log.ShipmentFailed(_logger, shipment.Count, Backend, e);
                if (await ProbeFailureAsync(CancellationToken.None).ConfigureAwait(false) is not null)
                    _down = e as StorageUnavailableException ?? new StorageUnavailableException(Backend, $"{Backend} did not take the journal's profiles: {e.Message}", e);
                if (Environment.TickCount64 >= stopAt)
                    return; // left in the journal for the next start
                try
                {
                    await Task.Delay(RetryAfter, stop.IsCancellationRequested ? CancellationToken.None : stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // stopping: the drain below decides
                }
            }
        }
    }

    /// <summary>Nothing to ship while the engine is down: asks it once a second whether it is back.</summary>
    private async Task ProbeWhileDownAsync(CancellationToken stop)
    {
        await Task.Delay(RetryAfter, stop).ConfigureAwait(false);
        _down = await ProbeFailureAsync(stop).ConfigureAwait(false);
    }

    /// <summary>Why the engine does not answer a probe; null when it does.</summary>
    private async Task<StorageUnavailableException?> ProbeFailureAsync(CancellationToken stop)
    {
        try
        {
            await _engine.ProbeAsync(stop).ConfigureAwait(false);
            return null;
        }
        catch (StorageUnavailableException e)
        {
            return e;
        }
    }

    private List<JournalEntry> Oldest()
    {
        var shipment = new List<JournalEntry>();
        long bytes = 0;
        lock (_gate)
        {
            for (var node = _pending.First; node is not null && shipment.Count < MaxShipment && (shipment.Count == 0 || bytes < MaxShipmentBytes); node = node.Next)
            {
                shipment.Add(node.Value);
                bytes += node.Value.BodyLength;
            }
        }

        return shipment;
    }

    private async Task<List<JournalEntry>> LeaveOutShippedAsync(List<JournalEntry> shipment)
    {
        var there = (await _engine.GetAsync([.. shipment.Select(e => e.Meta.Id)], CancellationToken.None).ConfigureAwait(false))
            .Select(m => m.Id).ToHashSet(StringComparer.Ordinal);
        Shipped(shipment.Where(e => there.Contains(e.Meta.Id)));
        return [.. shipment.Where(e => !there.Contains(e.Meta.Id))];
    }

    /// <summary>Hands the engine a shipment at once: its own write pipeline batches them into few inserts.</summary>
    private async Task ShipAsync(List<JournalEntry> shipment)
    {
        var writes = new List<(JournalEntry Entry, Task Write)>(shipment.Count);
        foreach (var (entry, read) in shipment.Zip(_journal.ReadBodies(shipment)))
        {
            var body = read ?? throw new InvalidOperationException($"the journal lost the body of {entry.Meta.Id}");
            var m = entry.Meta;
            writes.Add((entry, _engine.WriteAsync(new NewProfile(m.Service, m.Type, m.InstanceId, m.Labels, m.CreatedAtUnixNanos, m.Value, m.Id), body, CancellationToken.None)));
        }

        try
        {
            await Task.WhenAll(writes.Select(w => w.Write)).ConfigureAwait(false);
        }
        finally
        {
            Shipped(writes.Where(w => w.Write.IsCompletedSuccessfully).Select(w => w.Entry));
        }
    }

    private void Shipped(IEnumerable<JournalEntry> entries)
    {
        var shipped = entries.ToList();
        lock (_gate)
        {
            foreach (var entry in shipped)
            {
                if (_byId.Remove(entry.Meta.Id, out var node))
                    _pending.Remove(node);
            }
        }

        _journal.Release(shipped);
    }

    /// <summary>The pending entries a query selects, taken before the engine is asked, so that none is missed.</summary>
    private List<JournalEntry> PendingOf(ProfileQuery query)
    {
        lock (_gate)
        {
            return [.. _pending.Where(e => e.Meta.Service == query.Service && (query.Type is null || e.Meta.Type == query.Type)
                && e.Meta.CreatedAtUnixNanos >= query.FromUnixNanos && e.Meta.CreatedAtUnixNanos <= query.ToUnixNanos && query.MatchesLabels(e.Meta.Labels))];
        }
    }

    public async Task<IReadOnlyList<ProfileMeta>> FindAsync(ProfileQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var pending = PendingOf(query);
        var stored = await _engine.FindAsync(query, cancellationToken).ConfigureAwait(false);
        if (pending.Count == 0)
            return stored;
        var ids = stored.Select(m => m.Id).ToHashSet(StringComparer.Ordinal);
        var all = stored.Concat(pending.Select(e => e.Meta).Where(m => !ids.Contains(m.Id)))
            .OrderBy(m => m.CreatedAtUnixNanos).ThenBy(m => m.Id, StringComparer.Ordinal).ToList();
        return query.Limit > 0 && all.Count > query.Limit ? all[^query.Limit..] : all;
    }

    public async Task<IReadOnlyList<ProfileMeta>> GetAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var pending = Pending(ids);
        var stored = await _engine.GetAsync([.. ids.Where(id => !pending.ContainsKey(id))], cancellationToken).ConfigureAwait(false);
        if (pending.Count == 0)
            return stored;
        var byId = stored.ToDictionary(m => m.Id, StringComparer.Ordinal);
        foreach (var (id, entry) in pending)
            byId[id] = entry.Meta;
        return [.. ids.Where(byId.ContainsKey).Select(id => byId[id])];
    }

    private Dictionary<string, JournalEntry> Pending(IEnumerable<string> ids)
    {
        var found = new Dictionary<string, JournalEntry>(StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var id in ids)
            {
                if (_byId.TryGetValue(id, out var node))
                    found[id] = node.Value;
            }
        }

        return found;
    }

    public async IAsyncEnumerable<byte[]> OpenAsync(IReadOnlyList<string> ids, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var pending = Pending(ids);
        if (pending.Count == 0)
        {
            await foreach (var body in _engine.OpenAsync(ids, cancellationToken).ConfigureAwait(false))
                yield return body;
            yield break;
        }

        // A pending body shipped and released while this reads is in the engine by then; the engine's stream
        // leaves out ids it does not have, so which those are is asked first.
        var fromJournal = pending.Keys.Zip(_journal.ReadBodies(pending.Values)).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal);
        var fromEngine = ids.Where(id => fromJournal.GetValueOrDefault(id) is null).ToList();
        await using var stored = _engine.OpenAsync(fromEngine, cancellationToken).GetAsyncEnumerator(cancellationToken);
        var there = (await _engine.GetAsync(fromEngine, cancellationToken).ConfigureAwait(false)).Select(m => m.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var id in ids)
        {
            if (fromJournal.GetValueOrDefault(id) is { } body)
                yield return body;
            else if (there.Contains(id) && await stored.MoveNextAsync().ConfigureAwait(false))
                yield return stored.Current;
        }
    }

    // Pending first, then the engine, as everywhere here: a profile shipped in between is in the engine's answer.
    public async Task<IReadOnlyList<string>> ListServicesAsync(CancellationToken cancellationToken)
    {
        List<string> pending;
        lock (_gate)
            pending = [.. _pending.Select(e => e.Meta.Service)];
        var stored = await _engine.ListServicesAsync(cancellationToken).ConfigureAwait(false);
        return pending.Count == 0 ? stored : [.. stored.Union(pending).Order(StringComparer.Ordinal)];
    }

    public async Task<IReadOnlyList<ProfileLabel>> ListLabelsAsync(string service, CancellationToken cancellationToken)
    {
        List<ProfileLabel> pending;
        lock (_gate)
            pending = [.. _pending.Where(e => e.Meta.Service == service).SelectMany(e => e.Meta.Labels)];
        var stored = await _engine.ListLabelsAsync(service, cancellationToken).ConfigureAwait(false);
        return pending.Count == 0
            ? stored
            : [.. stored.Union(pending).OrderBy(l => l.Key, StringComparer.Ordinal).ThenBy(l => l.Value, StringComparer.Ordinal)];
    }

    /// <summary>
    /// The engine's own plan for the range before the oldest pending profile it selects (whole minutes), and
    /// raw bodies, found by id, from there on: pending profiles are the last seconds' in steady state, so that
    /// tail is small, and no profile is counted twice however shipments land meanwhile.
    /// </summary>
    public async Task<MergeSource> OpenMergeAsync(ProfileQuery query, int maxRawProfiles, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (Split(query) is not { } split)
            return await _engine.OpenMergeAsync(query, maxRawProfiles, cancellationToken).ConfigureAwait(false);
        if (split <= query.FromUnixNanos || query.Limit > 0)
            return await MergeSource.FromFindAsync(this, query, maxRawProfiles, cancellationToken).ConfigureAwait(false);
        var head = await _engine.OpenMergeAsync(query with { ToUnixNanos = split - 1 }, maxRawProfiles, cancellationToken).ConfigureAwait(false);
        var tail = await MergeSource.FromFindAsync(this, query with { FromUnixNanos = split }, Math.Max(0, maxRawProfiles - head.RawProfiles), cancellationToken)
            .ConfigureAwait(false);
        return new MergeSource(head.Profiles + tail.Profiles, head.RawProfiles + tail.RawProfiles, head.Bodies.Concat(tail.Bodies));
    }

    /// <summary>The engine's series before the oldest pending profile the query selects, one point per profile from there on (as a merge).</summary>
    public async Task<IReadOnlyList<SeriesPoint>> SeriesAsync(ProfileQuery query, long resolutionNanos, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (Split(query) is not { } split)
            return await _engine.SeriesAsync(query, resolutionNanos, cancellationToken).ConfigureAwait(false);
        if (split <= query.FromUnixNanos || query.Limit > 0)
            return await SeriesPoint.FromFindAsync(this, query, cancellationToken).ConfigureAwait(false);
        var head = await _engine.SeriesAsync(query with { ToUnixNanos = split - 1 }, resolutionNanos, cancellationToken).ConfigureAwait(false);
        var tail = await SeriesPoint.FromFindAsync(this, query with { FromUnixNanos = split }, cancellationToken).ConfigureAwait(false);
        return [.. head, .. tail];
    }

    /// <summary>As <see cref="SeriesAsync"/>: the engine's before the oldest pending profile, one point per profile from there on.</summary>
    public async Task<IReadOnlyList<LabeledSeriesPoint>> SeriesByLabelAsync(ProfileQuery query, string key, long resolutionNanos, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (Split(query) is not { } split)
            return await _engine.SeriesByLabelAsync(query, key, resolutionNanos, cancellationToken).ConfigureAwait(false);
        if (split <= query.FromUnixNanos || query.Limit > 0)
            return await LabeledSeriesPoint.FromFindAsync(this, query, key, cancellationToken).ConfigureAwait(false);
        var head = await _engine.SeriesByLabelAsync(query with { ToUnixNanos = split - 1 }, key, resolutionNanos, cancellationToken).ConfigureAwait(false);
        var tail = await LabeledSeriesPoint.FromFindAsync(this, query with { FromUnixNanos = split }, key, cancellationToken).ConfigureAwait(false);
        return [.. head, .. tail];
    }

    /// <summary>The start of the minute of the oldest pending profile the query selects; null when it selects none.</summary>
    private long? Split(ProfileQuery query)
    {
        const long Minute = 60_000_000_000;
        var pending = PendingOf(query);
        if (pending.Count == 0)
            return null;
        var oldest = pending.Min(e => e.Meta.CreatedAtUnixNanos);
        return oldest - (((oldest % Minute) + Minute) % Minute);
    }

    /// <summary>
    /// Deletes in the engine once what the journal holds from before the cutoff is shipped (a profile shipped
    /// after the delete would outlive its retention); waits for that at most one shipment timeout.
    /// </summary>
    public async Task<int> DeleteOlderThanAsync(long cutoffUnixNanos, long aggregateCutoffUnixNanos, CancellationToken cancellationToken)
    {
        var giveUp = Environment.TickCount64 + (long)ShipWait.TotalMilliseconds;
        while (HoldsOlderThan(cutoffUnixNanos) && Environment.TickCount64 < giveUp)
            await Task.Delay(20, cancellationToken).ConfigureAwait(false); // retention runs hourly: a poll costs nothing
        return await _engine.DeleteOlderThanAsync(cutoffUnixNanos, aggregateCutoffUnixNanos, cancellationToken).ConfigureAwait(false);
    }

    private bool HoldsOlderThan(long cutoffUnixNanos)
    {
        lock (_gate)
            return _pending.Any(e => e.Meta.CreatedAtUnixNanos < cutoffUnixNanos);
    }

    /// <summary>Stops taking writes, ships what it can for a few seconds, and leaves the rest in the journal for the next start.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _appends.DisposeAsync().ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        Task shipping;
        lock (_gate)
            shipping = _shipping;
        await shipping.ConfigureAwait(false);
        _journal.Dispose();
        _stopping.Dispose();
        _wake.Dispose();
        if (_engine is IAsyncDisposable engine)
            await engine.DisposeAsync().ConfigureAwait(false);
    }

    private sealed record Append(ProfileMeta Meta, ReadOnlyMemory<byte> Body);

    private static partial class Log
    {
        [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "The journal holds {Count} acknowledged profiles from before the start; shipping them to {Backend}")]
        public static partial void Replaying(ILogger logger, int count, string backend);

        [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "{Backend} did not take a shipment of {Count} journaled profiles; they stay in the journal and are shipped again")]
        public static partial void ShipmentFailed(ILogger logger, int count, string backend, Exception exception);
    }
}
