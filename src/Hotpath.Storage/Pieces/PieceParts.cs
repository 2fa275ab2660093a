namespace Hotpath.Storage.Pieces;

/// <summary>The parts of one piece, and their merge (gzipped) when the engine has it already (ingest folded them in memory).</summary>
public sealed record PieceParts<TRef>(IReadOnlyList<PiecePart<TRef>> Parts, byte[]? Merged = null);
