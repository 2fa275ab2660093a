namespace Hotpath.Service.Query.Changes;

/// <summary>A function whose share moved for sure: its self and total values, each with its change.</summary>
/// <param name="File">The function's source file, or empty.</param>
/// <param name="Regressed">Whether it is a regression over the threshold (what a deploy gate counts).</param>
public sealed record FunctionChange(string Function, string File, ChangeKind Kind, ShareChange Self, ShareChange Total, bool Regressed);
