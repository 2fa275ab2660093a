using System.Diagnostics;

namespace Hotpath.Testing;

/// <summary>examples/HotApp as its own process: the workload with known hot paths the agent tests profile.</summary>
public sealed class HotAppProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string? _copy;

    private HotAppProcess(Process process, string? copy)
    {
        _process = process;
        _copy = copy;
    }

    public int Id => _process.Id;

    public int ExitCode => _process.ExitCode;

    /// <summary>Starts HotApp from this test build's configuration and returns once its busy loop runs.</summary>
    /// <param name="environment">Extra environment, e.g. the agent's settings (Hotpath__Agent__Window).</param>
    /// <param name="fromItsDirectory">Started as a user would: in its own directory, as <c>dotnet HotApp.dll</c>.</param>
    /// <param name="unprivileged">Runs it as the user nobody (through setpriv, which keeps the pid): a process without root's privileges.</param>
    public static HotAppProcess Start(int seconds, string? agentCollector = null, IReadOnlyDictionary<string, string>? environment = null, bool fromItsDirectory = false,
        bool unprivileged = false)
    {
        var dll = Path.Combine(TestData.ProjectRoot, "examples", "HotApp", "bin", TestData.Configuration, "net10.0", "HotApp.dll");
        var copy = unprivileged ? ReadableCopy(Path.GetDirectoryName(dll)!) : null;
        if (copy is not null)
            dll = Path.Combine(copy, "HotApp.dll");
        var start = new ProcessStartInfo(unprivileged ? "setpriv" : "dotnet") { UseShellExecute = false, RedirectStandardOutput = true };
        if (unprivileged)
        {
            foreach (var argument in Unprivileged)
                start.ArgumentList.Add(argument);
            start.ArgumentList.Add("dotnet");
            foreach (var (name, value) in UnprivilegedEnvironment)
                start.Environment[name] = value;
        }

        if (fromItsDirectory)
            start.WorkingDirectory = Path.GetDirectoryName(dll);
        start.ArgumentList.Add(fromItsDirectory ? Path.GetFileName(dll) : dll);
        start.ArgumentList.Add("--seconds");
        start.ArgumentList.Add(seconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (agentCollector is not null)
        {
            start.ArgumentList.Add("--agent");
            start.ArgumentList.Add(agentCollector);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            start.Environment[key] = value;
        var process = Process.Start(start)!;
        process.StandardOutput.ReadLine(); // "HotApp <pid> running …": calibrated, the busy loop starts now
        return new HotAppProcess(process, copy);
    }

    /// <summary>
    /// A copy of a build's folder that any user may read, for a process run as nobody: the clone it was built
    /// in may sit in a folder only its owner can enter.
    /// </summary>
    public static string ReadableCopy(string directory)
    {
        var copy = Path.Combine(Path.GetTempPath(), "hotpath-readable-" + Guid.NewGuid().ToString("N"));
        foreach (var file in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(directory, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        if (OperatingSystem.IsWindows())
            return copy;
        foreach (var entry in Directory.EnumerateFileSystemEntries(copy, "*", SearchOption.AllDirectories).Append(copy))
            File.SetUnixFileMode(entry, Directory.Exists(entry) ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100);
        return copy;
    }

    /// <summary>A home for dotnet run as nobody, who has none.</summary>
    public static IReadOnlyDictionary<string, string> UnprivilegedEnvironment { get; } =
        new Dictionary<string, string> { ["HOME"] = Path.GetTempPath(), ["DOTNET_CLI_HOME"] = Path.GetTempPath() };

    /// <summary>setpriv's arguments that run what follows as the user and group nobody, with no supplementary groups.</summary>
    public static IReadOnlyList<string> Unprivileged { get; } = ["--reuid=65534", "--regid=65534", "--clear-groups"];

    /// <summary>Waits for HotApp's own end and returns its last line (throughput and peak memory).</summary>
    public async Task<string> WaitForExitAsync()
    {
        var rest = await _process.StandardOutput.ReadToEndAsync();
        await _process.WaitForExitAsync();
        return rest.Trim();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        if (_copy is not null)
            Directory.Delete(_copy, recursive: true);
    }
}
