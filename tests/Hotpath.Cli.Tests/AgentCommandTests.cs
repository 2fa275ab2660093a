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
