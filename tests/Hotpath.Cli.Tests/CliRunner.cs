using Hotpath.Testing;

namespace Hotpath.Cli.Tests;

/// <summary>Runs the hotpath command in-process against a real collector, capturing what it prints.</summary>
public sealed record CliResult(int ExitCode, string Output, string Error);

public static class CliRunner
{
    public static async Task<CliResult> RunAsync(CollectorInstance collector, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CliApp.RunAsync([.. args, "--collector", collector.BaseAddress.ToString()], output, error, default, TestClock.Provider);
        return new CliResult(code, output.ToString(), error.ToString());
    }
}
