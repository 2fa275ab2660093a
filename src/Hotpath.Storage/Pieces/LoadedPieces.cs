namespace Hotpath.Storage.Pieces;

/// <summary>
/// What an engine's piece index holds for some whole buckets of one level: the pieces a merge can read, and
/// the buckets it cannot read from this level (written since their piece was built, or whose profiles did not
/// merge). A bucket in neither holds no profiles.
/// </summary>
public sealed class LoadedPieces<TBody>
{
    public List<PlannedPiece<TBody>> Pieces { get; } = [];

    /// <summary>The stale buckets, by label set and start.</summary>
    public List<(string Labels, long Bucket)> Stale { get; } = [];
}
