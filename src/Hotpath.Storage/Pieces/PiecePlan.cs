namespace Hotpath.Storage.Pieces;

/// <summary>A planned merge: its parts in time order, how many profiles they hold, and how many of them are raw.</summary>
public sealed class PiecePlan<TBody>(List<PlannedPiece<TBody>> parts)
{
    public IReadOnlyList<PlannedPiece<TBody>> Parts => parts;

    public int Profiles { get; } = parts.Sum(p => p.Profiles);

    public int RawProfiles { get; } = parts.Count(p => p.Raw);
}
