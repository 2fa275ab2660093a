using Hotpath.Testing;

namespace Hotpath.Cli.Tests;

/// <summary>hotpath agent --pid against examples/HotApp running as its own process.</summary>
[Trait(TestCategory.Trait, TestCategory.Sampling)]
[Collection(Name)]
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AgentCommandTests
{
    private const string Name = "agent";

    [Fact]
    public async Task Attaching_to_hotapp_by_pid_stores_cpu_heap_and_mutex_profiles_that_show_its_known_hot_paths()
    {
        await using var collector = await CollectorInstance.StartAsync();
        await using var hotApp = HotAppProcess.Start(seconds: 120);

        var result = await CliRunner.RunAsync(collector, "agent", "--pid", hotApp.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--service", "hotapp", "--label", "region=eu-west", "--window", "8s", "--interval", "8s", "--rounds", "1");

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("stored cpu profile of process", result.Output);
        Assert.Contains("stored heap profile of process", result.Output);
        Assert.Contains("stored mutex profile of process", result.Output);
        // version=1.4.0: read from the target's entry assembly, HotApp.dll, since no --label gave one.
        const string selection = "service=hotapp&labels=region%3Deu-west,version%3D1.4.0";
        await HotAppExpectations.AssertCpuAsync(collector, selection);
        await HotAppExpectations.AssertHeapAsync(collector, selection);
        await HotAppExpectations.AssertAllocatedTypesAsync(collector, selection);
        await HotAppExpectations.AssertMutexAsync(collector, selection);
    }

    [Fact]
    public async Task The_version_is_read_from_a_target_started_by_a_relative_path_in_its_own_directory()
    {
        await using var collector = await CollectorInstance.StartAsync();
        await using var hotApp = HotAppProcess.Start(seconds: 60, fromItsDirectory: true);

        var result = await CliRunner.RunAsync(collector, "agent", "--pid", hotApp.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--service", "hotapp-cwd", "--types", "mutex", "--window", "2s", "--rounds", "1");

        Assert.True(result.ExitCode == 0, result.Error);
        var labels = Assert.Single(await collector.FindAllAsync("hotapp-cwd")).GetProperty("labels");
        Assert.Contains(labels.EnumerateArray(), l => l.GetProperty("key").GetString() == "version" && l.GetProperty("value").GetString() == "1.4.0");
    }

    [Fact]
    public async Task A_collector_that_is_away_at_first_costs_a_retry_not_the_attach()
    {
        await using var collector = await CollectorInstance.StartAsync();
        await using var relay = TcpRelay.Start(TcpRelay.Mode.Refuse, collector.BaseAddress.ToString());
        await using var hotApp = HotAppProcess.Start(seconds: 90);
        using var output = new StringWriter();
        using var error = new StringWriter();
        var errors = TextWriter.Synchronized(error);

        var run = CliApp.RunAsync(["agent", "--pid", hotApp.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--service", "hotapp-retry",
            "--types", "mutex", "--window", "2s", "--interval", "3s", "--rounds", "2", "--collector", relay.Url], TextWriter.Synchronized(output), errors);
        await Eventually.TrueAsync(() => { lock (errors) return error.ToString().Contains("retrying", StringComparison.Ordinal); }, TimeSpan.FromSeconds(60),
            "the first upload was never refused and retried");
        relay.Switch(TcpRelay.Mode.Forward);
        var code = await run.WaitAsync(TimeSpan.FromSeconds(90));

        Assert.True(code == 0, error.ToString());
        Assert.Equal(2, (await collector.FindAllAsync("hotapp-retry")).Count);
    }

    [Fact]
    public async Task Only_the_types_asked_for_are_recorded()
    {
        await using var collector = await CollectorInstance.StartAsync();
        await using var hotApp = HotAppProcess.Start(seconds: 60);

        var result = await CliRunner.RunAsync(collector, "agent", "--pid", hotApp.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--service", "hotapp-mutex", "--types", "mutex", "--window", "2s", "--rounds", "1");

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(["mutex"], (await collector.FindAllAsync("hotapp-mutex")).Select(p => p.GetProperty("type").GetString()));
    }

    [Fact]
    public async Task An_unknown_type_is_a_clear_error()
    {
        await using var collector = await CollectorInstance.StartAsync();

        var result = await CliRunner.RunAsync(collector, "agent", "--pid", "1", "--service", "x", "--types", "cpu,wall");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("unknown profile type 'wall'", result.Error);
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
