namespace Hotpath.Storage.ClickHouse;

/// <summary>A planned part's bytes in ClickHouse: a piece's body, or the id of a raw profile (read with the others, by range).</summary>
internal readonly record struct StoredBody(byte[]? Piece, string? ProfileId);
