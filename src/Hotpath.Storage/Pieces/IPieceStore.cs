namespace Hotpath.Storage.Pieces;

/// <summary>
/// What the <see cref="PieceBuilder{TRef}"/> needs of an engine: which pieces are due, their parts, the bytes
/// of raw parts, and where a built piece goes. How a piece is made is the builder's, the same for every engine.
/// </summary>
/// <typeparam name="TRef">How the engine points at a raw profile.</typeparam>
public interface IPieceStore<TRef>
{
    /// <summary>The grid levels (<see cref="BucketGrid"/>) the engine builds, coarsest first.</summary>
    IReadOnlyList<int> Levels { get; }

    /// <summary>True when a piece may point at its one raw profile instead of holding a copy.</summary>
    bool KeepsPointers { get; }

    /// <summary>
    /// Fewest profiles a piece of several parts is merged from: one of fewer is kept thin
    /// (<see cref="BuiltPiece{TRef}.Thin"/>), its counts without a copy, and merges read its parts. 2: every piece of
    /// several parts is merged.
    /// </summary>
    int MinMergedProfiles { get; }

    /// <summary>
    /// The pieces of one level due by <paramref name="nowUnixNanos"/>: buckets that are over, written since their
    /// piece was built, and (with <paramref name="settledOnly"/>) no longer being written. At most a batch.
    /// </summary>
    Task<IReadOnlyList<PendingPiece>> PendingAsync(int level, long nowUnixNanos, bool settledOnly, CancellationToken cancellationToken);

    /// <summary>
    /// A pending piece's parts: its finer pieces or, at the finest level, its raw profiles (the all-labels set's,
    /// the pieces of the other sets beside it); null when they are not ready (built by a later pass).
    /// </summary>
    Task<PieceParts<TRef>?> PartsAsync(PendingPiece piece, CancellationToken cancellationToken);

    /// <summary>The bytes of raw parts, in order.</summary>
    IAsyncEnumerable<byte[]> ReadAsync(IReadOnlyList<TRef> raw, CancellationToken cancellationToken);

    /// <summary>
    /// Stores (or, when empty, drops) each piece and clears its mark unless a later write changed it: all together,
    /// in one transaction or request where the engine can.
    /// </summary>
    Task WriteAsync(IReadOnlyList<(PendingPiece Piece, BuiltPiece<TRef> Built)> pieces, CancellationToken cancellationToken);
}
