namespace Hotpath.Pprof.Conversions;

/// <summary>
/// Pyroscope's names of profile types (the suffix of an ingest <c>name</c>: <c>app.cpu</c>,
/// <c>app.alloc_space</c>, …, or a pprof body's sample types) in Hotpath's types.
/// </summary>
public static class PyroscopeTypes
{
    private static readonly Dictionary<string, ProfileType> Suffixes = new(StringComparer.Ordinal)
    {
        ["cpu"] = ProfileType.Cpu,
        ["itimer"] = ProfileType.Cpu,
        ["wall"] = ProfileType.Wall,
        ["alloc_objects"] = ProfileType.Heap,
        ["alloc_space"] = ProfileType.Heap,
        ["inuse_objects"] = ProfileType.Heap,
        ["inuse_space"] = ProfileType.Heap,
        ["alloc_in_new_tlab_objects"] = ProfileType.Heap,
        ["alloc_in_new_tlab_bytes"] = ProfileType.Heap,
        ["alloc_outside_tlab_objects"] = ProfileType.Heap,
        ["alloc_outside_tlab_bytes"] = ProfileType.Heap,
        ["goroutines"] = ProfileType.Goroutine,
        ["mutex_count"] = ProfileType.Mutex,
        ["mutex_duration"] = ProfileType.Mutex,
        ["lock_count"] = ProfileType.Mutex,
        ["lock_duration"] = ProfileType.Mutex,
        ["block_count"] = ProfileType.Block,
        ["block_duration"] = ProfileType.Block,
        ["exceptions"] = ProfileType.Other,
    };

    private static readonly Dictionary<string, ProfileType> Names = new(StringComparer.Ordinal)
    {
        ["process_cpu"] = ProfileType.Cpu,
        ["cpu"] = ProfileType.Cpu,
        ["wall"] = ProfileType.Wall,
        ["memory"] = ProfileType.Heap,
        ["block"] = ProfileType.Block,
        ["mutex"] = ProfileType.Mutex,
        ["goroutine"] = ProfileType.Goroutine,
        ["goroutines"] = ProfileType.Goroutine,
    };

    /// <summary>The type a push series' <c>__name__</c> label names (<c>process_cpu</c>, <c>memory</c>, …); false for another name.</summary>
    public static bool TryParseName(string name, out ProfileType type) => Names.TryGetValue(name, out type);

    /// <summary>The type a name's suffix stands for; false when the suffix names no profile type (it is part of the app's name).</summary>
    public static bool TryParseSuffix(string suffix, out ProfileType type) => Suffixes.TryGetValue(suffix, out type);

    /// <summary>
    /// The type of a pprof profile that came without one (the Node.js SDK names none: its wall and heap
    /// profiles share a name), from its sample types: cpu, wall, allocations or in-use memory,
    /// contentions, goroutines, off-CPU time (block); anything else is "other".
    /// </summary>
    public static ProfileType FromSampleTypes(IReadOnlyList<string> sampleTypes)
    {
        ArgumentNullException.ThrowIfNull(sampleTypes);
        bool Any(Func<string, bool> match) => sampleTypes.Any(match);
        if (Any(t => t == "cpu"))
            return ProfileType.Cpu;
        if (Any(t => t == "wall"))
            return ProfileType.Wall;
        if (Any(t => t.StartsWith("alloc_", StringComparison.Ordinal) || t.StartsWith("inuse_", StringComparison.Ordinal) || t is "space" or "objects"))
            return ProfileType.Heap;
        if (Any(t => t is "contentions" or "delay"))
            return ProfileType.Mutex;
        if (Any(t => t is "goroutine" or "goroutines"))
            return ProfileType.Goroutine;
        // Off-CPU time (the eBPF profiler's): time blocked, as in Go's block profiles.
        if (Any(t => t == "off_cpu"))
            return ProfileType.Block;
        return ProfileType.Other;
    }

    /// <summary>The unit of a sample type Pyroscope names by suffix, when the request gives none (<c>units</c>).</summary>
    public static string DefaultUnit(string suffix)
    {
        ArgumentNullException.ThrowIfNull(suffix);
        if (suffix.EndsWith("_space", StringComparison.Ordinal) || suffix.EndsWith("_bytes", StringComparison.Ordinal))
            return "bytes";
        return suffix.EndsWith("_duration", StringComparison.Ordinal) ? "nanoseconds" : "count";
    }
}
