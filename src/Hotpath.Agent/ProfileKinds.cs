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

    All = Cpu | Heap | Mutex | Exceptions,
}

/// <summary>Names and parsing of profile kinds as the collector's types and the CLI spell them.</summary>
public static class ProfileKindNames
{
    public static string TypeName(ProfileKinds kind) => kind switch
    {
        ProfileKinds.Cpu => "cpu",
        ProfileKinds.Heap => "heap",
        ProfileKinds.Mutex => "mutex",
        ProfileKinds.Exceptions => "other",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "one kind expected"),
    };

    /// <summary>"cpu,heap,mutex,exceptions" → the flags; false with the offending word when one is unknown.</summary>
    public static bool TryParse(string text, out ProfileKinds kinds, out string? unknown)
    {
        ArgumentNullException.ThrowIfNull(text);
        kinds = ProfileKinds.None;
        unknown = null;
        foreach (var word in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kind = word.ToLowerInvariant() switch
            {
                "cpu" => ProfileKinds.Cpu,
                "heap" => ProfileKinds.Heap,
                "mutex" => ProfileKinds.Mutex,
                "exceptions" or "other" => ProfileKinds.Exceptions,
                _ => ProfileKinds.None,
            };
            if (kind == ProfileKinds.None)
            {
                unknown = word;
                return false;
            }

            kinds |= kind;
        }

        return kinds != ProfileKinds.None;
    }
}
