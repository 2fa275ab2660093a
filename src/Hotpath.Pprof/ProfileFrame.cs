namespace Hotpath.Pprof;

/// <summary>
/// A resolved stack frame: its function's name and, when known, its source file, the function's first line and
/// the line of the statement the frame was at (0 when unknown).
/// </summary>
public readonly record struct ProfileFrame(string Function, string? File = null, int StartLine = 0, int Line = 0);
