namespace Hotpath.Storage.Pieces;

/// <summary>
/// One part of a planned merge: a pre-merged piece or a raw profile, with the time it starts at (a merge reads
/// its parts in time order) and what it holds.
/// </summary>
/// <param name="Labels">The label set (<see cref="Hotpath.Pprof.LabelSetKey"/>, or <see cref="BucketGrid.AllLabels"/>) it is of.</param>
/// <param name="Raw">True when its bytes are one raw profile's (a raw profile, or a piece that points to one), decoded as such.</param>
/// <param name="Body">Where the engine reads its bytes from.</param>
public readonly record struct PlannedPiece<TBody>(long Time, string Labels, int Profiles, long Value, bool Raw, TBody Body);
