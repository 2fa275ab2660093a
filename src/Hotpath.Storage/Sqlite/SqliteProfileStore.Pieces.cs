using Hotpath.Pprof;

namespace Hotpath.Storage.Sqlite;

/// <summary>The pre-merged pieces: building them when the host's pass asks, and what they take.</summary>
public sealed partial class SqliteProfileStore
{
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
            // The writer leaves checkpoints to this connection: every pass, and as its own commits fill the log. Passive: it
            // waits for no reader and holds no lock the writer needs.
            Execute(_rollupConnection, "PRAGMA wal_checkpoint(PASSIVE);");
            var total = 0;
            var started = _time.GetTimestamp();
            int built;
            do
            {
                // A pass lasts while it builds (a burst keeps it going): its clock moves, or the buckets written since
                // it began would never count as settled in it.
                var at = now + _time.GetElapsedTime(started);
                built = await _rollups.BuildAsync(UnixNanos.From(at), settledOnly, cancellationToken).ConfigureAwait(false);
                total += built;
            }
            while (built > 0);
            _folds.DropIdle(UnixNanos.From(now));
            return total;
        }
        finally
        {
            _rollupPass.Release();
        }
    }

    public long PendingBuckets => Scalar("SELECT count(*) FROM rollup_dirty");

    /// <summary>Pieces built from the profiles ingest had decoded, without decoding them again.</summary>
    public long PiecesFromIngest => _folds.Taken;

    public long RollupBytes => Scalar("SELECT coalesce(sum(length(body)), 0) FROM rollups");
}
