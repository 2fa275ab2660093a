namespace Hotpath.Storage.Pieces;

/// <summary>The half-open interval [<paramref name="From"/>, <paramref name="End"/>) of one label set's profiles.</summary>
public readonly record struct SetRange(string Labels, long From, long End);
