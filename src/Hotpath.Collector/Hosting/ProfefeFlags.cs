namespace Hotpath.Collector.Hosting;

/// <summary>Keeps profefe's own command-line flags working: "-addr :10100" or "-addr=:10100".</summary>
public static class ProfefeFlags
{
    private static readonly Dictionary<string, string> Map = new(StringComparer.Ordinal)
    {
        ["-addr"] = "--Collector:Address",
        ["--addr"] = "--Collector:Address",
    };

    public static string[] Translate(string[] args)
    {
        var result = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? arg : arg[..eq];
            if (!Map.TryGetValue(name, out var key))
            {
                result.Add(arg);
                continue;
            }

            if (eq >= 0)
                result.Add($"{key}={arg[(eq + 1)..]}");
            else if (i + 1 < args.Length)
                result.Add($"{key}={args[++i]}");
            else
                throw new ArgumentException($"{arg} needs a value, e.g. {arg} :10100");
        }

        return [.. result];
    }
}
