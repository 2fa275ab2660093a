using Hotpath.Pprof;
using Hotpath.Storage.Pieces;

namespace Hotpath.Storage.Sqlite;

/// <summary>
/// Pieces merged in memory from the profiles ingest has already decoded, whatever their time, so that the
/// builder does not decode them a second time. Each profile is folded into its service's and type's minute: the
/// all-labels minute piece, and also the minute piece of a label set that was the only one written that minute
/// (one agent sending often). A label set that sends at most once a minute (an agent's usual pace: its minute
/// pieces point to their one profile) is also folded into its ten minutes, which would otherwise decode each;
/// a set that sends more often is not (its ten minutes merge its minute pieces).
/// Only a shortcut: a piece is taken from here only when it holds exactly the profiles (by id) the store
/// committed for it; anything else is built from the raw profiles as before. Bounded in number (a fold of a
/// minute of 20 agents' CPU profiles holds about 1 MB); a fold no write has reached for <see cref="Idle"/> is dropped.
/// </summary>
internal sealed class IngestFolds(int maxFolds = 64)
{
    /// <summary>How long a fold waits for the builder after its last write: past it, the builder is far behind and decodes.</summary>
    private static readonly long Idle = (long)TimeSpan.FromMinutes(5).TotalNanoseconds;

    private readonly Lock _lock = new();
    private readonly Dictionary<Key, Fold> _folds = [];
    private long _taken;

    /// <summary>How many pieces were built from here rather than from their raw profiles.</summary>
    public long Taken => Interlocked.Read(ref _taken);

    /// <param name="Labels">The label set of a ten minutes' fold, <see cref="BucketGrid.AllLabels"/> for a minute's.</param>
    private readonly record struct Key(string Service, int Type, string Labels, long Bucket);

    /// <summary>
    /// A bucket's fold, in stripes: concurrent writes to one hot bucket each fold into a stripe that is free rather
    /// than queue on one merger, and taking it merges the stripes.
    /// </summary>
    private sealed class Fold
    {
        public readonly Stripe[] Stripes = [.. Enumerable.Range(0, Math.Min(Environment.ProcessorCount, 4)).Select(_ => new Stripe())];
        public long LastMinute = long.MinValue;
        public long Touched;
        public volatile bool Taken;
        public volatile bool Broken; // it cannot be taken: its bucket is built the raw way

        public int Count => Stripes.Sum(s => s.Ids.Count);
    }

    private sealed class Stripe
    {
        public readonly Lock Lock = new();
        public readonly ProfileMerger Merger = new();
        public readonly HashSet<string> Ids = new(StringComparer.Ordinal);
    }

    /// <summary>Folds a decoded profile into its minute and, for a set that sends once a minute, its ten minutes, where there is room.</summary>
    public void Add(string service, int type, string labels, string id, long createdAt, long now, RawProfile profile)
    {
        var minute = BucketGrid.Floor(BucketGrid.Minute, createdAt);
        Add(new Key(service, type, BucketGrid.AllLabels, minute), id, minute, now, profile);
        Add(new Key(service, type, labels, BucketGrid.Floor(BucketGrid.TenMinutes, createdAt)), id, minute, now, profile);
    }

    private void Add(Key key, string id, long minute, long now, RawProfile profile)
    {
        Fold? fold;
        lock (_lock)
        {
            if (!_folds.TryGetValue(key, out fold))
            {
                if (_folds.Count >= maxFolds)
                    return;
                _folds[key] = fold = new Fold();
            }

            fold.Touched = now;
            if (key.Labels != BucketGrid.AllLabels)
            {
                // A set sending more than once a minute: its minute pieces are merges already, its ten minutes merge those.
                fold.Broken |= fold.LastMinute == minute;
                fold.LastMinute = minute;
            }
        }

        if (fold.Broken || fold.Taken)
            return;
        var stripe = Enter(fold.Stripes);
        try
        {
            if (fold.Taken)
                return;
            stripe.Merger.Add(profile);
            stripe.Ids.Add(id);
        }
        catch (IncompatibleProfilesException)
        {
            fold.Broken = true; // the builder finds the bucket unmergeable on its own
        }
        finally
        {
            stripe.Lock.Exit();
        }
    }

    /// <summary>The first stripe that is free, or the last one once it is.</summary>
    private static Stripe Enter(Stripe[] stripes)
    {
        for (var i = 0; i < stripes.Length - 1; i++)
        {
            if (stripes[i].Lock.TryEnter())
                return stripes[i];
        }

        stripes[^1].Lock.Enter();
        return stripes[^1];
    }

    /// <summary>True for the pieces ingest folds: every minute piece, and a label set's ten minutes.</summary>
    public static bool Folds(PendingPiece piece) =>
        piece.Level == BucketGrid.Minute || (piece.Level == BucketGrid.TenMinutes && piece.Labels != BucketGrid.AllLabels);

    /// <summary>
    /// The merge of a minute piece, or of a label set's ten minutes, if its fold holds exactly the profiles the
    /// store <paramref name="committed"/> for it (asked only when there is a fold). A label set's minute takes its
    /// service's minute only when it was the minute's one set; the all-labels piece takes it otherwise.
    /// </summary>
    public ProfileMerger? Take(PendingPiece piece, Func<IReadOnlyCollection<string>> committed)
    {
        var key = piece.Level == BucketGrid.Minute
            ? new Key(piece.Service, (int)piece.Type, BucketGrid.AllLabels, piece.Bucket)
            : new Key(piece.Service, (int)piece.Type, piece.Labels, piece.Bucket);
        Fold? fold;
        lock (_lock)
        {
            if (!_folds.TryGetValue(key, out fold))
                return null;
        }

        foreach (var stripe in fold.Stripes)
            stripe.Lock.Enter();
        try
        {
            if (fold.Taken)
                return null;
            // A profile folded but never committed (its batch failed) or committed but not folded means the raw way.
            var exact = !fold.Broken && fold.Count >= 2 && committed() is var ids && ids.Count == fold.Count
                && ids.All(id => Array.Exists(fold.Stripes, s => s.Ids.Contains(id)));
            if (!exact && piece.Level == BucketGrid.Minute && piece.Labels != BucketGrid.AllLabels)
                return null;
            fold.Taken = true;
            lock (_lock)
            {
                _folds.Remove(key);
            }

            if (!exact)
                return null;
            Interlocked.Increment(ref _taken);
            var used = fold.Stripes.Where(s => s.Ids.Count > 0).ToList();
            if (used.Count == 1)
                return used[0].Merger;
            var merger = new ProfileMerger();
            foreach (var stripe in used)
                merger.Add(stripe.Merger);
            return merger;
        }
        finally
        {
            foreach (var stripe in fold.Stripes)
                stripe.Lock.Exit();
        }
    }

    /// <summary>Drops folds no write has reached for a while (the builder has read them, or will not soon).</summary>
    public void DropIdle(long now)
    {
        lock (_lock)
        {
            foreach (var (key, _) in _folds.Where(f => now - Volatile.Read(ref f.Value.Touched) > Idle).ToList())
                _folds.Remove(key);
        }
    }
}
