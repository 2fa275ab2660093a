using Hotpath.Pprof;

namespace Hotpath.Storage.Pieces;

/// <summary>
/// Builds the pieces an engine says are due, finest level first, so that each coarser piece is merged from
/// finer ones just built: in each bucket, every label set's piece before its groups' (all-labels and a label's,
/// <see cref="LabelGroups"/>), which the engine may build from them. A piece of one raw profile points to it (where
/// the engine keeps pointers), a piece of one part takes its bytes, one of fewer profiles than the engine merges is
/// thin (its counts only), any other merges its parts; parts that do not merge make a piece that says so.
/// </summary>
public sealed class PieceBuilder<TRef>(IPieceStore<TRef> store)
{
    private readonly ProfileDecoder _decoder = new();
    private readonly RawProfile _raw = new();

    /// <summary>Most built pieces held before they are written: each write is one transaction (one lock, one round trip).</summary>
    private const int WriteBatch = 128;

    /// <summary>Builds one batch of what is due per level; returns how many buckets (of a service, type and level) it built.</summary>
    public async Task<int> BuildAsync(long nowUnixNanos, bool settledOnly, CancellationToken cancellationToken)
    {
        var buckets = 0;
        var built = new List<(PendingPiece Piece, BuiltPiece<TRef> Built)>();
        for (var i = store.Levels.Count - 1; i >= 0; i--)
        {
            var pending = await store.PendingAsync(store.Levels[i], nowUnixNanos, settledOnly, cancellationToken).ConfigureAwait(false);
            foreach (var bucket in pending.GroupBy(p => (p.Service, p.Type, p.Bucket)))
            {
                var any = false;
                foreach (var piece in bucket.OrderBy(p => LabelGroups.IsGroup(p.Labels)))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    // A group's piece may be built from its sets' pieces beside it: those must be written first.
                    if ((LabelGroups.IsGroup(piece.Labels) && built.Count > 0 && built[^1].Piece is var last && !LabelGroups.IsGroup(last.Labels)
                            && (last.Service, last.Type, last.Bucket) == bucket.Key)
                            || built.Count >= WriteBatch)
                        await FlushAsync(built, cancellationToken).ConfigureAwait(false);
                    if (await store.PartsAsync(piece, cancellationToken).ConfigureAwait(false) is { } parts
                            && await BuildAsync(parts, cancellationToken).ConfigureAwait(false) is { } made)
                    {
                        built.Add((piece, made));
                        any = true;
                    }
                }

                // Only buckets built count: a pass goes on while it builds, not while pieces wait for their parts.
                if (any)
                    buckets++;
            }

            // A coarser level is built from this one's pieces, so they are written before it is asked what is due.
            await FlushAsync(built, cancellationToken).ConfigureAwait(false);
        }

        return buckets;
    }

    private async Task FlushAsync(List<(PendingPiece Piece, BuiltPiece<TRef> Built)> built, CancellationToken cancellationToken)
    {
        if (built.Count == 0)
            return;
        await store.WriteAsync(built, cancellationToken).ConfigureAwait(false);
        built.Clear();
    }

    /// <summary>
    /// Builds a piece whole, however few its parts (a thin piece whose raw profiles are about to expire), and writes
    /// it; false when its parts are not there.
    /// </summary>
    public async Task<bool> BuildWholeAsync(PendingPiece piece, CancellationToken cancellationToken)
    {
        if (await store.PartsAsync(piece, cancellationToken).ConfigureAwait(false) is not { } parts
                || await BuildAsync(parts, cancellationToken, whole: true).ConfigureAwait(false) is not { } made)
            return false;
        await store.WriteAsync([(piece, made)], cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>The piece of the parts; null when a raw part is gone meanwhile (retention), to be built again by a later pass.</summary>
    /// <param name="whole">Merged however few its parts: never thin.</param>
    private async Task<BuiltPiece<TRef>?> BuildAsync(PieceParts<TRef> pieceParts, CancellationToken cancellationToken, bool whole = false)
    {
        var parts = pieceParts.Parts;
        var profiles = parts.Sum(p => p.Profiles);
        var value = Saturating.Sum(parts, p => p.Value);
        if (parts.Any(p => p.Unmergeable))
            return new BuiltPiece<TRef>(0, value, null, default, Mergeable: false);
        if (parts.Count == 0)
            return new BuiltPiece<TRef>(0, 0, null, default, Mergeable: true);
        if (parts.Count == 1 && parts[0].Raw is { } pointer && store.KeepsPointers)
            return new BuiltPiece<TRef>(profiles, value, null, pointer, Mergeable: true); // however coarse the bucket: no copy
        if (parts.Count == 1 && parts[0].Body is { } body)
            return new BuiltPiece<TRef>(profiles, value, body, default, Mergeable: true); // its bytes already are the merge
        if (!whole && PieceParts<TRef>.AreThin(parts, store.MinMergedProfiles))
            return new BuiltPiece<TRef>(profiles, value, null, default, Mergeable: true, Thin: true);
        if (pieceParts.Merged is { } merged)
            return new BuiltPiece<TRef>(profiles, value, merged, default, Mergeable: true);
        try
        {
            return await MergeAsync(parts, cancellationToken).ConfigureAwait(false) is { } merge
                ? new BuiltPiece<TRef>(profiles, value, merge, default, Mergeable: true)
                : null;
        }
        catch (Exception e) when (e is IncompatibleProfilesException or MalformedProfileException or ProfileTooLargeException)
        {
            return new BuiltPiece<TRef>(0, value, null, default, Mergeable: false); // merges of this bucket read its parts
        }
    }

    private async Task<byte[]?> MergeAsync(IReadOnlyList<PiecePart<TRef>> parts, CancellationToken cancellationToken)
    {
        var raw = new List<byte[]>();
        await foreach (var body in store.ReadAsync([.. parts.Where(p => p.Body is null).Select(p => p.Raw!)], cancellationToken).ConfigureAwait(false))
            raw.Add(body);
        if (raw.Count != parts.Count(p => p.Body is null))
            return null;
        var merger = new ProfileMerger();
        var next = 0;
        foreach (var part in parts)
            Add(merger, part.Body ?? raw[next++]);
        return merger.ToGzipBytes();
    }

    private void Add(ProfileMerger merger, byte[] body)
    {
        try
        {
            _decoder.Load(body, _raw);
            merger.Add(_raw);
        }
        finally
        {
            ProfileDecoder.Release(_raw);
        }
    }
}
