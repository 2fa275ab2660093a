namespace Hotpath.Storage.Pieces;

/// <summary>
/// What the <see cref="PiecePlanner{TBody}"/> needs of an engine: which label sets a query reads, what pieces
/// and stale marks a level holds, and the raw profiles of what no piece covers. The planning itself is the
/// planner's, the same for every engine.
/// </summary>
/// <typeparam name="TBody">Where the engine reads a planned part's bytes from.</typeparam>
public interface IPieceIndex<TBody>
{
    /// <summary>The grid levels (<see cref="BucketGrid"/>) the engine builds pieces of, coarsest first.</summary>
    IReadOnlyList<int> Levels { get; }

    /// <summary>The times a piece can start at, well inside long's range; buckets outside are read raw.</summary>
    (long From, long End) Span { get; }

    /// <summary>
    /// The label sets whose pieces answer the query. Grouped by a label (<paramref name="byLabel"/>): that label's
    /// groups (<see cref="LabelGroups"/>) when the query filters on no label and the engine keeps them, else every
    /// set of its service and type the filter matches. Otherwise: only <see cref="BucketGrid.AllLabels"/> when it
    /// filters on no label, only a label's group when it filters on that label alone and the engine keeps the
    /// group, else every set the filter matches.
    /// </summary>
    Task<IReadOnlyList<string>> LabelSetsAsync(ProfileQuery query, string? byLabel, CancellationToken cancellationToken);

    /// <summary>The pieces and stale buckets of one level in the ranges, which are whole buckets of that level.</summary>
    Task<LoadedPieces<TBody>> LoadAsync(ProfileQuery query, int level, IReadOnlyList<SetRange> ranges, CancellationToken cancellationToken);

    /// <summary>The raw profiles of the query in the ranges, each of its range's label set, as planned parts.</summary>
    Task<IReadOnlyList<PlannedPiece<TBody>>> RawAsync(ProfileQuery query, IReadOnlyList<SetRange> ranges, CancellationToken cancellationToken);
}
