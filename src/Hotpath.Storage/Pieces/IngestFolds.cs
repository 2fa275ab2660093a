using System.Collections.Concurrent;
using Hotpath.Pprof;

namespace Hotpath.Storage.Pieces;

/// <summary>
/// Pieces merged in memory from the profiles ingest has already decoded, whatever their time, so that the
/// builder does not decode them a second time. Each profile is folded into its service's and type's minute: the
/// all-labels minute piece, and also the minute piece of a label set that was the only one written that minute
/// (one agent sending often); and into the minute of each label group (<see cref="LabelGroups"/>) it is in. A label set that sends at most once a minute (an agent's usual pace: its minute
/// pieces point to their one profile) is also folded into its ten minutes, which would otherwise decode each;
/// a set that sends more often is not (its ten minutes merge its minute pieces).
/// Only a shortcut: a piece is taken from here only when it holds exactly the profiles (by id) the store
/// committed for it; anything else is built from the raw profiles as before. A fold outlives its piece, so that
/// a later write to the bucket is built from it again, until room is needed for a fold not built yet. Bounded in
/// number: 256, what a burst of a 20-agent fleet's week (46 of its minutes written a second) keeps in use while
/// the builder takes them at once (128 was too few: the builder fell behind, decoded, and fell further behind),
/// for about 240 MB more than an idle collector; a fold no write has reached for <see cref="Idle"/> is dropped.
/// An engine that builds no minutes (ClickHouse: its finest pieces are ten minutes) folds a label set's ten minutes,
/// however often the set sends, and its service's ten minutes (a label's group is merged from its sets' pieces).
/// </summary>
/// <param name="minutes">Whether the engine builds minute pieces (of its services and groups) from ingest too.</param>
public sealed class IngestFolds(int maxFolds = 256, bool minutes = true)
{
    /// <summary>How long a fold waits for the builder after its last write: past it, the builder is far behind and decodes.</summary>
    private static readonly long Idle = (long)TimeSpan.FromMinutes(5).TotalNanoseconds;

    /// <summary>How long a fold goes unwritten before its piece is made early; less, and a bucket a burst is still writing is made over and over.</summary>
    private static readonly long Quiet = (long)TimeSpan.FromMilliseconds(250).TotalNanoseconds;

    private readonly Lock _lock = new();
    private readonly Dictionary<Key, Fold> _folds = [];
    private readonly ConcurrentDictionary<(string Service, int Type), (string Group, ProfileLabel Pair)[]> _groups = new();
    private long _taken;

    /// <summary>How many pieces were built from here rather than from their raw profiles.</summary>
    public long Taken => Interlocked.Read(ref _taken);

    /// <param name="Labels">The label set of a ten minutes' fold, the group (<see cref="BucketGrid.AllLabels"/> or a label's) of a minute's.</param>
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
        public bool Built; // its piece holds what it holds: it may make room for one that is not built yet (under the table's lock)
        public volatile bool Broken; // it cannot be taken: its bucket is built the raw way

        public int Count => Stripes.Sum(s => s.Ids.Count);
    }

    private sealed class Stripe
    {
        public readonly Lock Lock = new();
        public readonly ProfileMerger Merger = new();
        public readonly HashSet<string> Ids = new(StringComparer.Ordinal);
    }

    /// <summary>The groups besides all-labels of a service and type, as the writer chose them last; folded from then on.</summary>
    public void Regroup(string service, int type, IReadOnlyList<string> groups) =>
        _groups[(service, type)] = [.. groups.Select(g => (g, LabelGroups.PairOf(g)))]; // decoded once here, not per profile

    /// <summary>
    /// Folds a decoded profile into its minute, its groups' minutes and, for a set that sends once a minute, its
    /// ten minutes, where there is room.
    /// </summary>
    public void Add(string service, int type, string labels, IReadOnlyList<ProfileLabel> decoded, string id, long createdAt, long now, RawProfile profile)
    {
        var minute = BucketGrid.Floor(BucketGrid.Minute, createdAt);
        if (!minutes)
        {
            var tenMinutes = BucketGrid.Floor(BucketGrid.TenMinutes, createdAt);
            Add(new Key(service, type, BucketGrid.AllLabels, tenMinutes), id, minute, now, profile);
            Add(new Key(service, type, labels, tenMinutes), id, minute, now, profile);
            return;
        }

        Add(new Key(service, type, BucketGrid.AllLabels, minute), id, minute, now, profile);
        if (_groups.TryGetValue((service, type), out var groups))
        {
            foreach (var (group, pair) in groups)
            {
                if (LabelGroups.Holds(pair, decoded))
                    Add(new Key(service, type, group, minute), id, minute, now, profile);
            }
        }

        Add(new Key(service, type, labels, BucketGrid.Floor(BucketGrid.TenMinutes, createdAt)), id, minute, now, profile);
    }

    private void Add(Key key, string id, long minute, long now, RawProfile profile)
    {
        Fold? fold;
        lock (_lock)
        {
            if (!_folds.TryGetValue(key, out fold))
            {
                if (_folds.Count >= maxFolds && !Evict(LabelGroups.IsGroup(key.Labels)))
                    return;
                _folds[key] = fold = new Fold();
            }

            fold.Touched = now;
            fold.Built = false;
            if (minutes && !LabelGroups.IsGroup(key.Labels))
            {
                // A set sending more than once a minute: its minute pieces are merges already, its ten minutes merge those.
                fold.Broken |= fold.LastMinute == minute;
                fold.LastMinute = minute;
            }
        }

        if (fold.Broken)
            return;
        var stripe = Enter(fold.Stripes);
        try
        {
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

    /// <summary>
    /// Makes room (under the table's lock): drops the built fold written longest ago or, for a group's minute, a
    /// label set's ten minutes not built yet (those answer filtered merges only; a service's minutes answer every
    /// other one, and a burst that fills the table with the one would leave the other to be decoded). False if none.
    /// </summary>
    private bool Evict(bool forGroup)
    {
        Key? oldest = null;
        var rank = (Built: false, Touched: long.MaxValue);
        foreach (var (key, fold) in _folds)
        {
            if (!fold.Built && !(forGroup && !LabelGroups.IsGroup(key.Labels)))
                continue;
            // Built folds first, then the one written longest ago.
            if (oldest is null || (fold.Built && !rank.Built) || (fold.Built == rank.Built && fold.Touched < rank.Touched))
                (oldest, rank) = (key, (fold.Built, fold.Touched));
        }

        return oldest is { } evicted && _folds.Remove(evicted);
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
        piece.Level == BucketGrid.Minute || (piece.Level == BucketGrid.TenMinutes && !LabelGroups.IsGroup(piece.Labels));

    /// <summary>True for the pieces these folds hold: without minutes, a label set's ten minutes and its service's.</summary>
    public bool Covers(PendingPiece piece) =>
        minutes ? Folds(piece) : piece.Level == BucketGrid.TenMinutes && !LabelGroups.IsLabelGroup(piece.Labels);

    /// <summary>
    /// True when the piece has a fold no write has reached for <see cref="Quiet"/>: it may be made from it without
    /// waiting for the bucket's writes to settle (a burst that writes a bucket within moments and moves on).
    /// </summary>
    public bool Has(PendingPiece piece, long now)
    {
        lock (_lock)
        {
            return _folds.TryGetValue(KeyOf(piece), out var fold) && !fold.Broken && !Writing(fold, now);
        }
    }

    private static Key KeyOf(PendingPiece piece) => piece.Level == BucketGrid.Minute
        ? new Key(piece.Service, (int)piece.Type, LabelGroups.IsGroup(piece.Labels) ? piece.Labels : BucketGrid.AllLabels, piece.Bucket)
        : new Key(piece.Service, (int)piece.Type, piece.Labels, piece.Bucket);

    /// <summary>
    /// The gzipped merge of a minute piece, or of a label set's ten minutes, if its fold holds exactly the profiles
    /// the store <paramref name="committed"/> for it (asked only when there is a fold). A label set's minute takes
    /// its service's minute only when it was the minute's one set; the all-labels piece takes it otherwise.
    /// Before the bucket's writes have <paramref name="settled"/>, a fold that is not exact (a write folded and not
    /// committed yet) stays for a later pass; once they have, it is dropped and the bucket is built the raw way.
    /// </summary>
    public byte[]? Take(PendingPiece piece, bool settled, Func<IReadOnlyCollection<string>> committed) => Take(piece, settled, committed, out _);

    /// <summary>
    /// For an engine whose writes land after ingest folded them (a journal ships them): the piece's merge from its
    /// fold as <see cref="Take(PendingPiece, bool, Func{IReadOnlyCollection{string}})"/>, or null with
    /// <paramref name="wait"/> while its fold is still being written or holds writes that have not landed yet, for up
    /// to <paramref name="landing"/> after its last write; null without it when the piece is built the raw way.
    /// </summary>
    public byte[]? TakeLanded(PendingPiece piece, long now, long landing, Func<IReadOnlyCollection<string>> committed, out bool wait)
    {
        long touched;
        lock (_lock)
        {
            if (!_folds.TryGetValue(KeyOf(piece), out var fold))
            {
                wait = false;
                return null;
            }

            if (!fold.Broken && Writing(fold, now))
            {
                wait = true;
                return null;
            }

            touched = fold.Touched;
        }

        return Take(piece, settled: now - touched >= landing, committed, out wait);
    }

    /// <summary>True while a fold has been written within <see cref="Quiet"/> (under the table's lock): its bucket is still being written.</summary>
    private static bool Writing(Fold fold, long now) => now - fold.Touched < Quiet;

    private byte[]? Take(PendingPiece piece, bool settled, Func<IReadOnlyCollection<string>> committed, out bool inFlight)
    {
        inFlight = false;
        var key = KeyOf(piece);
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
            // A profile committed but not folded (the fold began after it) means the raw way; one folded but not
            // committed is a write in flight until the bucket settles, and then one whose batch failed.
            var ids = fold.Broken ? [] : committed();
            var missing = fold.Broken || !ids.All(id => Array.Exists(fold.Stripes, s => s.Ids.Contains(id)));
            var exact = !missing && fold.Count >= 2 && ids.Count == fold.Count;
            if (!exact)
            {
                if ((!settled && !missing) || (piece.Level == BucketGrid.Minute && !LabelGroups.IsGroup(piece.Labels)))
                {
                    inFlight = !settled && !missing && fold.Count > ids.Count;
                    return null;
                }

                lock (_lock)
                {
                    _folds.Remove(key); // its bucket is built the raw way, now and after
                }

                return null;
            }

            lock (_lock)
            {
                fold.Built = true;
            }

            Interlocked.Increment(ref _taken);
            var used = fold.Stripes.Where(s => s.Ids.Count > 0).ToList();
            if (used.Count == 1)
                return used[0].Merger.ToGzipBytes();
            var merger = new ProfileMerger();
            foreach (var stripe in used)
                merger.Add(stripe.Merger);
            return merger.ToGzipBytes();
        }
        finally
        {
            foreach (var stripe in fold.Stripes)
                stripe.Lock.Exit();
        }
    }

    /// <summary>
    /// Drops a piece's fold: the piece is thin (<see cref="BuiltPiece{TRef}.Thin"/>), nothing to merge. Not a label
    /// set's minute's, which is its service's too.
    /// </summary>
    public void Drop(PendingPiece piece)
    {
        if (!Folds(piece) || (piece.Level == BucketGrid.Minute && !LabelGroups.IsGroup(piece.Labels)))
            return;
        lock (_lock)
        {
            _folds.Remove(KeyOf(piece));
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
