using Hotpath.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Hotpath.Agent.Tests;

/// <summary>The in-process agent in a real generic host, in a console app, and in HotApp, pushing to a real collector.</summary>
[Trait(TestCategory.Trait, TestCategory.Sampling)]
[Collection("sampling")]
public sealed class HotpathAgentTests
{
    [Fact]
    public async Task One_line_in_a_host_makes_it_push_cpu_heap_and_mutex_profiles_of_itself_with_its_labels()
    {
        await using var collector = await CollectorInstance.StartAsync();
        var service = CollectorInstance.NewServiceName();
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddHotpathAgent(o =>
        {
            o.CollectorAddress = collector.BaseAddress.ToString();
            o.Service = service;
            o.Labels["version"] = "1.4";
            o.Window = TimeSpan.FromSeconds(2);
            o.Interval = TimeSpan.FromSeconds(2);
            o.MinJitter = o.MaxJitter = TimeSpan.Zero;
        });
        using var host = builder.Build();
        using var stop = new CancellationTokenSource();
        var gate = new object();
        var workers = new[]
        {
            new Thread(() => { while (!stop.IsCancellationRequested) Thread.SpinWait(1000); }),
            new Thread(() => { while (!stop.IsCancellationRequested) { GC.KeepAlive(new byte[64 * 1024]); Thread.Sleep(1); } }),
            new Thread(() => { while (!stop.IsCancellationRequested) lock (gate) Thread.Sleep(2); }),
            new Thread(() => { while (!stop.IsCancellationRequested) lock (gate) Thread.Sleep(2); }),
        };
        Array.ForEach(workers, t => { t.IsBackground = true; t.Start(); });

        await host.StartAsync();
        try
        {
            await HotAppExpectations.WaitForEveryTypeAsync(collector, service, TimeSpan.FromSeconds(40));
        }
        finally
        {
            await host.StopAsync();
            await stop.CancelAsync();
            Array.ForEach(workers, t => t.Join());
        }

        var stored = await collector.FindAllAsync(service);
        Assert.All(stored, p => Assert.Equal($"{Environment.MachineName}-{Environment.ProcessId}", p.GetProperty("instance_id").GetString()));
        Assert.All(stored, p => Assert.Equal("1.4", p.GetProperty("labels").EnumerateArray().Single(l => l.GetProperty("key").GetString() == "version").GetProperty("value").GetString()));
    }

    [Fact]
    public async Task Settings_come_from_the_hotpath_agent_configuration_section()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Hotpath:Agent:Service"] = "checkout",
            ["Hotpath:Agent:Types"] = "Cpu, Mutex",
            ["Hotpath:Agent:Window"] = "00:00:05",
            ["Hotpath:Agent:Labels:region"] = "eu-west",
        }).Build();
        var services = new ServiceCollection().AddHotpathAgent(configuration: configuration).BuildServiceProvider();

        var options = services.GetRequiredService<IOptions<HotpathAgentOptions>>().Value;

        Assert.Equal(("checkout", ProfileKinds.Cpu | ProfileKinds.Mutex, TimeSpan.FromSeconds(5), "eu-west"),
            (options.Service, options.Types, options.Window, options.Labels["region"]));
    }

    [Fact]
    public async Task A_host_without_a_service_name_refuses_to_start()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddHotpathAgent(o => o.CollectorAddress = "http://localhost:10100");
        using var host = builder.Build();

        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("Service is required", e.Message);
    }

    [Fact]
    public async Task A_console_app_without_a_host_is_refused_settings_that_cannot_work_with_the_setting_named()
    {
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            HotpathAgent.StartAsync(new HotpathAgentOptions { Service = "checkout", Window = TimeSpan.FromMinutes(2) }));

        Assert.Contains("Interval must be at least Window", e.Message);
    }

    [Fact]
    public async Task With_diagnostics_disabled_the_app_runs_on_unharmed_and_nothing_is_sent()
    {
        await using var collector = await CollectorInstance.StartAsync();
        var settings = new Dictionary<string, string> { ["DOTNET_EnableDiagnostics"] = "0", ["Hotpath__Agent__Service"] = "hotapp-nodiag" };

        await using var hotApp = HotAppProcess.Start(seconds: 3, collector.BaseAddress.ToString(), settings);
        var last = await hotApp.WaitForExitAsync();

        Assert.Equal(0, hotApp.ExitCode);
        Assert.StartsWith("throughput ", last);
        Assert.Empty(await collector.FindAllAsync("hotapp-nodiag"));
    }

    [Fact]
    public async Task Hotapp_with_the_agent_in_process_shows_its_known_hot_paths()
    {
        await using var collector = await CollectorInstance.StartAsync();
        var settings = new Dictionary<string, string>
        {
            ["Hotpath__Agent__Window"] = "00:00:08",
            ["Hotpath__Agent__Labels__region"] = "eu-west",
        };
        await using (var hotApp = HotAppProcess.Start(seconds: 30, collector.BaseAddress.ToString(), settings))
            await HotAppExpectations.WaitForEveryTypeAsync(collector, "hotapp", TimeSpan.FromSeconds(40));

        // version=1.4.0: the agent's default label, HotApp's assembly version.
        const string selection = "service=hotapp&labels=region%3Deu-west,version%3D1.4.0";
        await HotAppExpectations.AssertCpuAsync(collector, selection);
        await HotAppExpectations.AssertHeapAsync(collector, selection);
        await HotAppExpectations.AssertMutexAsync(collector, selection);
    }

    [Fact]
    public async Task Hotapp_with_wall_and_block_in_process_shows_its_blocked_requests_in_their_span_as_long_as_hotapp_measured()
    {
        await using var collector = await CollectorInstance.StartAsync();
        // Windows back to back, so the profiles cover the run HotApp measures.
        var settings = new Dictionary<string, string>
        {
            ["Hotpath__Agent__Service"] = "hotapp-waits",
            ["Hotpath__Agent__Types"] = "Wall, Block",
            ["Hotpath__Agent__Window"] = "00:00:04",
            ["Hotpath__Agent__Interval"] = "00:00:04",
            ["Hotpath__Agent__MinJitter"] = "00:00:00",
            ["Hotpath__Agent__MaxJitter"] = "00:00:00",
        };
        double measured;
        await using (var hotApp = HotAppProcess.Start(seconds: 13, collector.BaseAddress.ToString(), settings))
            measured = HotAppExpectations.MeasuredBlockedThreads(await hotApp.WaitForExitAsync());
        await HotAppExpectations.WaitForEveryTypeAsync(collector, "hotapp-waits", TimeSpan.FromSeconds(20), "wall", "block");

        await HotAppExpectations.AssertBlockedRequestsAsync(collector, "service=hotapp-waits", measured, spans: true);
    }
}
