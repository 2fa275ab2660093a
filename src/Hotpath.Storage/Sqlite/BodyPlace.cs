namespace Hotpath.Storage.Sqlite;

/// <summary>A planned part's bytes in the embedded store: a piece's own body, or a place in the body log.</summary>
internal readonly record struct BodyPlace(byte[]? Body, long Segment, long Offset, int Length);
