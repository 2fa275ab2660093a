namespace Hotpath.Pprof.Conversions;

/// <summary>
/// A profile type as Grafana Pyroscope names it: <c>&lt;name&gt;:&lt;sample type&gt;:&lt;sample unit&gt;:&lt;period type&gt;:&lt;period unit&gt;</c>,
/// e.g. <c>process_cpu:cpu:nanoseconds:cpu:nanoseconds</c>: one sample type of one kind of profile. Hotpath
/// stores whole profiles by <see cref="ProfileType"/>; <see cref="For"/> lists the ids each of its types shows
/// as, the ones Go's runtime and Pyroscope's SDKs produce, and <see cref="TryResolve"/> maps an id back.
/// </summary>
public sealed record PyroscopeTypeId(string Name, string SampleType, string SampleUnit, string PeriodType, string PeriodUnit)
{
    private static readonly Dictionary<ProfileType, PyroscopeTypeId[]> ByType = new()
    {
        [ProfileType.Cpu] = [new("process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds"), new("process_cpu", "samples", "count", "cpu", "nanoseconds")],
        [ProfileType.Wall] = [new("wall", "wall", "nanoseconds", "wall", "nanoseconds"), new("wall", "samples", "count", "wall", "nanoseconds")],
        [ProfileType.Heap] =
        [
            new("memory", "alloc_objects", "count", "space", "bytes"), new("memory", "alloc_space", "bytes", "space", "bytes"),
            new("memory", "inuse_objects", "count", "space", "bytes"), new("memory", "inuse_space", "bytes", "space", "bytes"),
        ],
        [ProfileType.Block] = [new("block", "contentions", "count", "contentions", "count"), new("block", "delay", "nanoseconds", "contentions", "count")],
        [ProfileType.Mutex] = [new("mutex", "contentions", "count", "contentions", "count"), new("mutex", "delay", "nanoseconds", "contentions", "count")],
        [ProfileType.Goroutine] = [new("goroutines", "goroutine", "count", "goroutine", "count")],
        [ProfileType.Threadcreate] = [new("threadcreate", "threadcreate", "count", "threadcreate", "count")],
        [ProfileType.Other] = [new("exceptions", "exceptions", "count", "exceptions", "count")],
    };

    // The sample type a stored profile's main value (its metadata's, pprof's default: the last) is of, as Go's
    // runtime and the SDKs lay them out.
    private static readonly Dictionary<ProfileType, string> Main = new()
    {
        [ProfileType.Cpu] = "cpu", [ProfileType.Wall] = "wall", [ProfileType.Heap] = "inuse_space", [ProfileType.Block] = "delay",
        [ProfileType.Mutex] = "delay", [ProfileType.Goroutine] = "goroutine", [ProfileType.Threadcreate] = "threadcreate", [ProfileType.Other] = "exceptions",
    };

    /// <summary>
    /// True when the id's sample type is the one a stored profile of the type keeps as its main value, so that
    /// series of it can be read from metadata and pieces without merging.
    /// </summary>
    public bool IsMainOf(ProfileType type) => Main.TryGetValue(type, out var main) && main == SampleType;

    /// <summary>The ids a stored type shows as (none for traces, which are not pprof).</summary>
    public static IReadOnlyList<PyroscopeTypeId> For(ProfileType type) => ByType.TryGetValue(type, out var ids) ? ids : [];

    /// <summary>The id as Pyroscope writes it.</summary>
    public string Id => $"{Name}:{SampleType}:{SampleUnit}:{PeriodType}:{PeriodUnit}";

    /// <summary>Grafana's label for it, as Pyroscope shows: "&lt;name&gt; - &lt;sample type&gt;".</summary>
    public string Label => $"{Name} - {SampleType}";

    public override string ToString() => Id;

    /// <summary>Parses an id of five parts; false for anything else.</summary>
    public static bool TryParse(string? id, out PyroscopeTypeId? parsed)
    {
        var parts = id?.Split(':');
        parsed = parts is { Length: 5 } && parts.All(p => p.Length > 0) ? new PyroscopeTypeId(parts[0], parts[1], parts[2], parts[3], parts[4]) : null;
        return parsed is not null;
    }

    /// <summary>
    /// The stored type an id selects, and the sample type (name and unit) to read of it: the listed ids, and any
    /// id whose name Hotpath knows (<c>cpu</c>, <c>memory</c>, …), as a profile sent through Pyroscope's push can
    /// carry sample types of its own.
    /// </summary>
    public static bool TryResolve(string? id, out ProfileType type, out PyroscopeTypeId? parsed)
    {
        type = default;
        if (!TryParse(id, out parsed))
            return false;
        var name = parsed!.Name;
        foreach (var (candidate, ids) in ByType)
        {
            if (ids.Any(i => i.Name == name))
            {
                type = candidate;
                return true;
            }
        }

        return PyroscopeTypes.TryParseName(name, out type);
    }
}
