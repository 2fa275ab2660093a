namespace Hotpath.Storage.Pieces;

/// <summary>
/// A built piece: its merged bytes, or a pointer to its one raw profile (no copy), or neither when its parts
/// hold no profile (the engine drops the piece) or did not merge (<see cref="Mergeable"/> false: merges read its
/// parts), or when it is <see cref="Thin"/>.
/// </summary>
/// <param name="Thin">
/// Its counts only: its profiles are too few for a copy of their merge to be worth its bytes (a merge of a few
/// profiles is nearly as large as they are), so merges read its parts, and a coarser piece is built from them.
/// </param>
public sealed record BuiltPiece<TRef>(int Profiles, long Value, byte[]? Body, TRef? Pointer, bool Mergeable, bool Thin = false)
{
    public bool Empty => Profiles == 0 && Mergeable;
}
