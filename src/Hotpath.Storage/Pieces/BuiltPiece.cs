namespace Hotpath.Storage.Pieces;

/// <summary>
/// A built piece: its merged bytes, or a pointer to its one raw profile (no copy), or neither when its parts
/// hold no profile (the engine drops the piece) or did not merge (<see cref="Mergeable"/> false: merges read its parts).
/// </summary>
public sealed record BuiltPiece<TRef>(int Profiles, long Value, byte[]? Body, TRef? Pointer, bool Mergeable)
{
    public bool Empty => Profiles == 0 && Mergeable;
}
