using System.Diagnostics;

namespace Hotpath.Testing;

/// <summary>examples/HotApp as its own process: the workload with known hot paths the agent tests profile.</summary>
public sealed class HotAppProcess : IAsyncDisposable
{
    private readonly Process _process;

    private HotAppProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public int ExitCode => _process.ExitCode;

    /// <summary>Starts HotApp from this test build's configuration and returns once its busy loop runs.</summary>
    /// <param name="environment">Extra environment, e.g. the agent's settings (Hotpath__Agent__Window).</param>
    /// <param name="fromItsDirectory">Started as a user would: in its own directory, as <c>dotnet HotApp.dll</c>.</param>
    public static HotAppProcess Start(int seconds, string? agentCollector = null, IReadOnlyDictionary<string, string>? environment = null, bool fromItsDirectory = false)
    {
        var dll = Path.Combine(TestData.ProjectRoot, "examples", "HotApp", "bin", TestData.Configuration, "net10.0", "HotApp.dll");
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true };
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
        return new HotAppProcess(process);
    }

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
    }
}
