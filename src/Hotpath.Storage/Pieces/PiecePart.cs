namespace Hotpath.Storage.Pieces;

/// <summary>
/// What a piece is built from: a finer piece's bytes, a raw profile (<paramref name="Raw"/>, read when merged),
/// or a part that did not merge (then neither does the piece, and merges read its parts).
/// </summary>
public readonly record struct PiecePart<TRef>(int Profiles, long Value, byte[]? Body, TRef? Raw, bool Unmergeable = false)
{
    public static PiecePart<TRef> NotMergeable => new(0, 0, null, default, true);
}
