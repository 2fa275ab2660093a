namespace Hotpath.Storage.Sqlite;

/// <summary>A raw profile as a piece's part in the embedded store: its row, its place in the body log, its id.</summary>
internal sealed record RawPlace(long Seq, long Segment, long Offset, int Length, string? Id);
