namespace Hotpath.Pprof;

/// <summary>
/// The profile types of the profefe API, stored as these numbers; the one list every part (API, stores, CLI)
/// uses. <see cref="Wall"/> (wall-clock time, what Pyroscope's and Node.js's profilers send most) is
/// Hotpath's own: profefe clients never send or see it.
/// </summary>
public enum ProfileType
{
    Cpu = 1,
    Heap = 2,
    Block = 3,
    Mutex = 4,
    Goroutine = 5,
    Threadcreate = 6,
    Other = 7,
    Trace = 8,
    Wall = 9,
}

public static class ProfileTypes
{
    private static readonly string[] Names = ["", "cpu", "heap", "block", "mutex", "goroutine", "threadcreate", "other", "trace", "wall"];

    public static IReadOnlyList<ProfileType> All { get; } = Enum.GetValues<ProfileType>();

    /// <summary>The types a merge (and so a view) can be made of: every one but <see cref="ProfileType.Trace"/>, whose bodies are not pprof.</summary>
    public static IReadOnlyList<ProfileType> Mergeable { get; } = [.. All.Where(t => t != ProfileType.Trace)];

    /// <summary>Every name, comma-separated, for messages that say what would have worked.</summary>
    public static string Listed { get; } = string.Join(", ", Names[1..]);

    /// <summary>The API's name of the type: lower case, as profefe spells it.</summary>
    public static string ToWire(this ProfileType type) => Names[(int)type];

    /// <summary>Parses exactly the lower-case names; anything else (including "CPU") is unknown.</summary>
    public static bool TryParse(string? value, out ProfileType type)
    {
        var index = value is null ? -1 : Array.IndexOf(Names, value, 1);
        type = index > 0 ? (ProfileType)index : default;
        return index > 0;
    }
}
