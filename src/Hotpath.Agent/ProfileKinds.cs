using Hotpath.Pprof;

namespace Hotpath.Agent;

/// <summary>What a recording window collects; each kind becomes one pprof of the profefe type of the same name.</summary>
[Flags]
public enum ProfileKinds
{
    None = 0,

    /// <summary>Stack samples of threads running managed code: <c>cpu</c>.</summary>
    Cpu = 1,

    /// <summary>Sampled allocations scaled to estimated totals: <c>heap</c>.</summary>
    Heap = 2,

    /// <summary>Lock contention, attributed to the waiting stack: <c>mutex</c>.</summary>
    Mutex = 4,

    /// <summary>Exceptions thrown, at the throwing stack, stored as profefe's <c>other</c> type.</summary>
    Exceptions = 8,

    /// <summary>
    /// Every managed thread's stack over time, running or waiting, with a <c>state</c> sample label: <c>wall</c>.
    /// Asked for by name: a process's idle threads make it the largest profile of a window.
    /// </summary>
    Wall = 16,

    /// <summary>
    /// Blocking waits (<c>.Result</c>, <c>.Wait()</c>, wait handles, <c>Monitor.Wait</c>) at the waiting stack, with their
    /// count and delay: <c>block</c>. Asked for by name: TPL's events cost a stack walk at every await that suspends.
    /// </summary>
    Block = 32,

    /// <summary>What an agent records unless told otherwise.</summary>
    Default = Cpu | Heap | Mutex | Exceptions,

    All = Default | Wall | Block,
}

/// <summary>The kinds as the profile types they are stored as, and parsed by the types' names.</summary>
public static class ProfileKindNames
{
    /// <summary>The type a kind's profiles are stored as (exceptions: profefe's <c>other</c>).</summary>
    public static ProfileType Type(ProfileKinds kind) => kind switch
    {
        ProfileKinds.Cpu => ProfileType.Cpu,
        ProfileKinds.Heap => ProfileType.Heap,
        ProfileKinds.Mutex => ProfileType.Mutex,
        ProfileKinds.Exceptions => ProfileType.Other,
        ProfileKinds.Wall => ProfileType.Wall,
        ProfileKinds.Block => ProfileType.Block,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "one kind expected"),
    };

    /// <summary>"cpu,heap,mutex,exceptions,wall,block" (exceptions or "other") → the flags; false with the offending word when one is unknown.</summary>
    public static bool TryParse(string text, out ProfileKinds kinds, out string? unknown)
    {
        ArgumentNullException.ThrowIfNull(text);
        kinds = ProfileKinds.None;
        unknown = null;
        foreach (var word in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var name = word.ToLowerInvariant();
            var kind = name == "exceptions" ? ProfileKinds.Exceptions
                : ProfileTypes.TryParse(name, out var type) ? Kinds.FirstOrDefault(k => Type(k) == type)
                : ProfileKinds.None;
            if (kind == ProfileKinds.None)
            {
                unknown = word;
                return false;
            }

            kinds |= kind;
        }

        return kinds != ProfileKinds.None;
    }

    private static readonly ProfileKinds[] Kinds = [ProfileKinds.Cpu, ProfileKinds.Heap, ProfileKinds.Mutex, ProfileKinds.Exceptions, ProfileKinds.Wall, ProfileKinds.Block];
}
