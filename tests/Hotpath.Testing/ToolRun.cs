using System.Diagnostics;

namespace Hotpath.Testing;

/// <summary>A command run to its end with a deadline, with what it printed: for tests that drive real tools (bash, go tool pprof).</summary>
public sealed record ToolRun(int ExitCode, string Output, string Error)
{
    public static async Task<ToolRun> RunAsync(string command, IEnumerable<string> arguments, string workingDirectory,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(command, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;
        using var process = Process.Start(start)!;
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        var output = process.StandardOutput.ReadToEndAsync(deadline.Token);
        var error = process.StandardError.ReadToEndAsync(deadline.Token);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{command} did not finish within {(timeout ?? TimeSpan.FromMinutes(2)).TotalSeconds:0} s");
        }

        return new ToolRun(process.ExitCode, await output, await error);
    }
}
