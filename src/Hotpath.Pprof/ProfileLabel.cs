namespace Hotpath.Pprof;

/// <summary>One key=value label of a profile. Keys may repeat.</summary>
public readonly record struct ProfileLabel(string Key, string Value);
