using System.Diagnostics;
using Hotpath.Pprof.Analysis;
using Hotpath.Testing;

namespace Hotpath.Cli.Tests;

/// <summary>hotpath agent --pid against examples/HotApp running as its own process.</summary>
[Collection(Name)]
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AgentCommandTests
{
    private const string Name = "agent";

    private static Process StartHotApp()
    {
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;
        var dll = Path.Combine(TestData.ProjectRoot, "examples", "HotApp", "bin", configuration, "net10.0", "HotApp.dll");
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add("--seconds");
        start.ArgumentList.Add("120");
        var process = Process.Start(start)!;
        process.StandardOutput.ReadLine(); // "HotApp <pid> running …": the busy loop has started
        return process;
    }

    [Fact]
    public async Task Attaching_to_hotapp_by_pid_stores_a_cpu_profile_led_by_its_known_hot_methods()
    {
        await using var collector = await CollectorInstance.StartAsync();
        using var hotApp = StartHotApp();
        try
        {
            var result = await CliRunner.RunAsync(collector, "agent", "--pid", hotApp.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--service", "hotapp", "--label", "version=1.4", "--window", "4s", "--interval", "4s", "--rounds", "1");

            Assert.True(result.ExitCode == 0, result.Error);
            Assert.Contains("stored cpu profile of process", result.Output);
            var merged = await collector.GetProfileAsync("/api/0/profiles/merge?service=hotapp&type=cpu&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00&labels=version%3D1.4");
            var top = TopTable.Build(merged, 1);
            var summary = string.Join(", ", top.Rows.Take(5).Select(r => $"{r.Function} {100.0 * r.Flat / top.Total:0}%"));
            // HotApp spends 60% in Work.Checksum and 40% in Work.Parse (whose own time is mostly in the BCL's number parsing).
            var checksum = top.Rows.SingleOrDefault(r => r.Function == "HotApp.Work.Checksum");
            var parse = top.Rows.SingleOrDefault(r => r.Function == "HotApp.Work.Parse");
            Assert.True(checksum is not null && parse is not null, summary);
            Assert.True(top.Rows.Take(3).Contains(checksum), summary);
            Assert.True(parse.Cumulative > 0.15 * top.Total, summary);
            Assert.True(checksum.Cumulative > parse.Cumulative, summary);
        }
        finally
        {
            hotApp.Kill();
            await hotApp.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task A_process_that_is_not_there_is_a_clear_error()
    {
        await using var collector = await CollectorInstance.StartAsync();

        var result = await CliRunner.RunAsync(collector, "agent", "--pid", "999999", "--service", "x", "--window", "1s", "--rounds", "1");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("cannot attach to process 999999", result.Error);
    }
}
