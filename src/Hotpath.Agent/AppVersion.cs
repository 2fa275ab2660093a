using System.Diagnostics;
using System.Reflection;

namespace Hotpath.Agent;

/// <summary>
/// The application's version, for the <c>version</c> label the agent adds when none is given: the entry
/// assembly's informational version without build metadata ("1.4.0+3f2c9e1" → "1.4.0"), so that profiles can
/// be compared across releases without anyone remembering to label them.
/// </summary>
public static class AppVersion
{
    public const string Label = "version";

    /// <summary>This process's version, or null when its entry assembly has none.</summary>
    public static string? OfThisProcess() =>
        WithoutBuildMetadata(Assembly.GetEntryAssembly()?.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);

    /// <summary>Another process's version, from its entry assembly (<see cref="EntryAssembly"/>); null when unknown.</summary>
    public static string? OfProcess(int processId) =>
        EntryAssembly(processId) is { } assembly
            ? WithoutBuildMetadata(FileVersionInfo.GetVersionInfo(assembly).ProductVersion) // a managed assembly's version attributes, on every platform
            : null;

    /// <summary>
    /// The path of the entry assembly another process's command line names (<c>dotnet app.dll</c>, or an
    /// apphost <c>app</c> beside <c>app.dll</c>); null where the command line cannot be read (only Linux gives
    /// it here, in /proc) or names no assembly.
    /// </summary>
    public static string? EntryAssembly(int processId)
    {
        string[] arguments;
        try
        {
            arguments = File.ReadAllText($"/proc/{processId}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // A relative path on the target's command line is relative to the target's working directory, not ours.
        string? directory;
        try
        {
            directory = new DirectoryInfo($"/proc/{processId}/cwd").ResolveLinkTarget(returnFinalTarget: true)?.FullName;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            directory = null;
        }

        string Resolved(string path) => directory is null ? path : Path.Combine(directory, path);
        return arguments.Select(Resolved).FirstOrDefault(a => a.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) && File.Exists(a))
            ?? (arguments.Length > 0 && File.Exists(Resolved(arguments[0]) + ".dll") ? Resolved(arguments[0]) + ".dll" : null);
    }

    /// <summary>The labels with <c>version</c> added, unless they have one or the version is unknown.</summary>
    public static IReadOnlyDictionary<string, string> AddTo(IReadOnlyDictionary<string, string> labels, string? version)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (version is null || labels.ContainsKey(Label))
            return labels;
        return new Dictionary<string, string>(labels) { [Label] = version };
    }

    private static string? WithoutBuildMetadata(string? version)
    {
        if (string.IsNullOrWhiteSpace(version))
            return null;
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus > 0 ? version[..plus] : version;
    }
}
