namespace Hotpath.Storage.Pieces;

/// <summary>The parts of one piece, and their merge (gzipped) when the engine has it already (ingest folded them in memory).</summary>
public sealed record PieceParts<TRef>(IReadOnlyList<PiecePart<TRef>> Parts, byte[]? Merged = null)
{
    /// <summary>
    /// True when parts make a thin piece (<see cref="BuiltPiece{TRef}.Thin"/>): several, each mergeable, and together
    /// fewer profiles than <paramref name="minMergedProfiles"/> (<see cref="IPieceStore{TRef}.MinMergedProfiles"/>).
    /// </summary>
    public static bool AreThin(IReadOnlyList<PiecePart<TRef>> parts, int minMergedProfiles)
    {
        ArgumentNullException.ThrowIfNull(parts);
        return parts.Count >= 2 && parts.Sum(p => p.Profiles) < minMergedProfiles && !parts.Any(p => p.Unmergeable);
    }
}
