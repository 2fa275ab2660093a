using Hotpath.Pprof;
using Hotpath.Storage.Pieces;

namespace Hotpath.Storage.Sqlite;

/// <summary>
/// Recent minutes of each label set, merged in memory from the profiles ingest has already decoded, so
/// that building a minute's piece does not decode its profiles a second time. Only a shortcut: a minute
/// is taken from here only when it holds exactly the profiles (by id) the store committed for it;
/// anything else is built from the raw profiles as before. Bounded in number; minutes older than a few
/// are dropped.
/// </summary>
internal sealed class IngestFolds(int maxFolds = 256)
{
    // The minutes a fold is kept for: the current one and a few behind it, while the builder catches up.
    private const int RecentMinutes = 3;

    private readonly Lock _lock = new();
    private readonly Dictionary<Key, Fold> _folds = [];
    private long _taken;

    /// <summary>How many minute pieces were built from here rather than from their raw profiles.</summary>
    public long Taken => Interlocked.Read(ref _taken);

    private readonly record struct Key(string Service, int Type, string Labels, long Minute);

    private sealed class Fold
    {
        public readonly ProfileMerger Merger = new();
        public readonly HashSet<string> Ids = new(StringComparer.Ordinal);
        public bool Broken;
        public bool Taken;
    }

    /// <summary>Folds a decoded profile into its minute, if that minute is recent and there is room.</summary>
    public void Add(string service, int type, string labels, string id, long createdAt, long now, RawProfile profile)
    {
        var minute = BucketGrid.Floor(BucketGrid.Minute, createdAt);
        if (minute < BucketGrid.Floor(BucketGrid.Minute, now) - RecentMinutes * BucketGrid.Width(BucketGrid.Minute))
            return; // a late profile: its minute may be built already
        Fold? fold;
        lock (_lock)
        {
            if (!_folds.TryGetValue(new Key(service, type, labels, minute), out fold))
            {
                if (_folds.Count >= maxFolds)
                    return;
                _folds[new Key(service, type, labels, minute)] = fold = new Fold();
            }
        }

        lock (fold)
        {
            if (fold.Taken)
                return;
            try
            {
                fold.Merger.Add(profile);
                fold.Ids.Add(id);
            }
            catch (IncompatibleProfilesException)
            {
                fold.Broken = true; // the builder finds the minute unmergeable on its own
            }
        }
    }

    /// <summary>The merge of the minute if it holds exactly the <paramref name="committed"/> profiles; the fold is gone either way.</summary>
    public Pprof.Proto.Profile? Take(string service, int type, string labels, long minute, IReadOnlyCollection<string> committed)
    {
        Fold? fold;
        lock (_lock)
        {
            if (!_folds.Remove(new Key(service, type, labels, minute), out fold))
                return null;
        }

        lock (fold)
        {
            fold.Taken = true;
            // A profile folded but never committed (its batch failed) or committed but not folded means the raw way.
            if (fold.Broken || committed.Count == 0 || !fold.Ids.SetEquals(committed))
                return null;
            Interlocked.Increment(ref _taken);
            return fold.Merger.Build();
        }
    }

    /// <summary>Drops folds of minutes no longer recent (the builder has read them, or never will).</summary>
    public void DropOlderThan(long now)
    {
        var oldest = BucketGrid.Floor(BucketGrid.Minute, now) - RecentMinutes * BucketGrid.Width(BucketGrid.Minute);
        lock (_lock)
        {
            foreach (var key in _folds.Keys.Where(k => k.Minute < oldest).ToList())
                _folds.Remove(key);
        }
    }
}
