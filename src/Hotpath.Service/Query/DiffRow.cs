namespace Hotpath.Service.Query;

/// <summary>A function in a diff: its self and total values in the comparison and in the baseline.</summary>
public readonly record struct DiffRow(string Function, string File, long Self, long Total, long BaselineSelf, long BaselineTotal);
