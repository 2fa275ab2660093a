using Hotpath.Pprof;

namespace Hotpath.Storage.Pieces;

/// <summary>A piece to build: a label set's (or all sets', <see cref="BucketGrid.AllLabels"/>) bucket of one level.</summary>
/// <param name="Set">The engine's own handle of the label set (SQLite's row id), or 0.</param>
/// <param name="Mark">
/// The engine's own note of what the piece is to hold (SQLite: the dirty mark's generation, which the piece
/// clears only if no later write changed it; ClickHouse: how many profiles the bucket holds).
/// </param>
public sealed record PendingPiece(string Service, ProfileType Type, int Level, long Bucket, string Labels, long Set, long Mark);
