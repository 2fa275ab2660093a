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
        Assert.Contains("CPU: perf events at 99 Hz on every CPU, continuous", result.Output); // as root here
        Assert.Contains("stored cpu profile of process", result.Output);
        Assert.Contains("stored heap profile of process", result.Output);
        Assert.Contains("stored mutex profile of process", result.Output);
        // version=1.4.0: read from the target's entry assembly, HotApp.dll, since no --label gave one.
        const string selection = "service=hotapp&labels=region%3Deu-west,version%3D1.4.0";
        await HotAppExpectations.AssertCpuAsync(collector, selection);
        await HotAppExpectations.AssertHeapAsync(collector, selection);
        await HotAppExpectations.AssertAllocatedTypesAsync(collector, selection);
        await HotAppExpectations.AssertMutexAsync(collector, selection);
        // The perf map the agent turned on for its names is off again, and its file gone; HotApp runs on.
        Assert.False(WritesPerfMap(hotApp.Id), "HotApp still writes its perf map after the agent left");
        Assert.False(File.Exists($"/tmp/perf-{hotApp.Id}.map"));
    }

    [Fact]
    public async Task Attaching_with_wall_and_block_stores_where_hotapps_requests_waited_as_long_as_hotapp_measured()
    {
        await using var collector = await CollectorInstance.StartAsync();
        await using var hotApp = HotAppProcess.Start(seconds: 14);
        await Task.Delay(TimeSpan.FromSeconds(3)); // the pool grows to the blocked requests

        var result = await CliRunner.RunAsync(collector, "agent", "--pid", hotApp.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--service", "hotapp-waits", "--types", "wall,block", "--window", "4s", "--interval", "4s", "--rounds", "1");
        var measured = HotAppExpectations.MeasuredBlockedThreads(await hotApp.WaitForExitAsync());

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("stored wall profile of process", result.Output);
        Assert.Contains("stored block profile of process", result.Output);
        // From outside, samples carry no span: EventPipe's samples have no activity.
        await HotAppExpectations.AssertBlockedRequestsAsync(collector, "service=hotapp-waits", measured, spans: false);
    }

    /// <summary>Whether the process holds its perf map open, as its runtime does while the map is on.</summary>
    private static bool WritesPerfMap(int pid) =>
        Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Any(fd => new FileInfo(fd).LinkTarget == $"/tmp/perf-{pid}.map");

    [Fact]
    public async Task Without_the_privilege_perf_events_need_the_agent_falls_back_to_eventpipe_windows_and_says_so()
    {
        // As the user nobody, with kernel.perf_event_paranoid above 0 (2 on this machine), the kernel refuses
        // system-wide sampling; the target runs as nobody too, so that the agent may reach its diagnostic port.
        Assert.True(int.Parse(File.ReadAllText("/proc/sys/kernel/perf_event_paranoid").Trim(), System.Globalization.CultureInfo.InvariantCulture) > 0,
            "this machine lets anyone sample every CPU: the refusal cannot be shown here");
        await using var collector = await CollectorInstance.StartAsync();
        await using var hotApp = HotAppProcess.Start(seconds: 60, unprivileged: true);
        var copy = HotAppProcess.ReadableCopy(Path.Combine(TestData.ProjectRoot, "src", "Hotpath.Cli", "bin", TestData.Configuration, "net10.0"));
        var cli = Path.Combine(copy, "hotpath.dll");
        string[] agent = [.. HotAppProcess.Unprivileged, "dotnet", cli, "agent", "--pid", hotApp.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--service", "hotapp-unprivileged", "--types", "cpu", "--window", "2s", "--interval", "2s", "--rounds", "1", "--collector", collector.BaseAddress.ToString()];

        ToolRun fallback, insisted;
        try
        {
            fallback = await ToolRun.RunAsync("setpriv", agent, Path.GetTempPath(), HotAppProcess.UnprivilegedEnvironment);
            insisted = await ToolRun.RunAsync("setpriv", [.. agent, "--cpu-sampler", "perf"], Path.GetTempPath(), HotAppProcess.UnprivilegedEnvironment);
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }

        Assert.True(fallback.ExitCode == 0, fallback.Output + fallback.Error);
        Assert.Contains("CPU: perf events are not available (perf_event_open refused (errno 13): system-wide CPU sampling needs root, CAP_PERFMON or kernel.perf_event_paranoid <= 0 (it is 2)); falling back to EventPipe windows of 2 s every 2 s", fallback.Output);
        Assert.Equal(["cpu"], (await collector.FindAllAsync("hotapp-unprivileged")).Select(p => p.GetProperty("type").GetString()));
        Assert.Equal(1, insisted.ExitCode);
        Assert.Contains("--cpu-sampler perf: perf_event_open refused", insisted.Error);
    }

    [Fact]
    public async Task All_finds_every_dotnet_process_and_stores_each_ones_cpu_under_its_own_service()
    {
        await using var collector = await CollectorInstance.StartAsync();
        var checkout = CollectorInstance.NewServiceName("checkout");
        var search = CollectorInstance.NewServiceName("search");
        await using var first = HotAppProcess.Start(seconds: 60, environment: new Dictionary<string, string> { ["HOTPATH_TEST_SERVICE"] = checkout });
        // The second writes its perf map from the start (3: the perf map alone), as a service may be deployed.
        await using var second = HotAppProcess.Start(seconds: 60, environment: new Dictionary<string, string> { ["HOTPATH_TEST_SERVICE"] = search, ["DOTNET_PerfMapEnabled"] = "3" });

        var result = await CliRunner.RunAsync(collector, "agent", "--all", "--service-from", "env:HOTPATH_TEST_SERVICE", "--types", "cpu",
            "--interval", "6s", "--rounds", "1");

        Assert.True(result.ExitCode == 0, result.Output + result.Error);
        Assert.Contains($"profiling process {first.Id} (dotnet) as service {checkout}", result.Output);
        Assert.Contains($"profiling process {second.Id} (dotnet) as service {search}", result.Output);
        foreach (var (service, process) in new[] { (checkout, first), (search, second) })
        {
            var meta = Assert.Single(await collector.FindAllAsync(service));
            Assert.Equal("cpu", meta.GetProperty("type").GetString());
            var labels = meta.GetProperty("labels").EnumerateArray().ToDictionary(l => l.GetProperty("key").GetString()!, l => l.GetProperty("value").GetString());
            Assert.Equal(process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), labels["pid"]);
            Assert.Equal("dotnet", labels["process"]);
            Assert.Equal(Environment.MachineName, labels["host"]);
            Assert.Equal("1.4.0", labels["version"]);
        }

        // Each is left as it was found: the first's perf map, turned on by the agent, is off and deleted; the
        // second's, on by its environment, is still written.
        Assert.Contains($"process {second.Id}: its perf map is on already and is left on", result.Output);
        Assert.False(WritesPerfMap(first.Id));
        Assert.False(File.Exists($"/tmp/perf-{first.Id}.map"));
        Assert.True(WritesPerfMap(second.Id));
    }

    [Fact]
    public async Task Pid_and_all_are_one_or_the_other()
    {
        await using var collector = await CollectorInstance.StartAsync();

        var neither = await CliRunner.RunAsync(collector, "agent", "--types", "cpu");
        var both = await CliRunner.RunAsync(collector, "agent", "--pid", "1", "--all");
        var unnamed = await CliRunner.RunAsync(collector, "agent", "--pid", "1");

        Assert.Contains("give either --pid N (with --service) or --all", neither.Error);
        Assert.Contains("give either --pid N (with --service) or --all", both.Error);
        Assert.Contains("--pid needs --service", unnamed.Error);
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

        var result = await CliRunner.RunAsync(collector, "agent", "--pid", "1", "--service", "x", "--types", "cpu,walltime");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("unknown profile type 'walltime'", result.Error);
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
