using Hotpath.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Hotpath.Agent.Tests;

/// <summary>The in-process agent in a real generic host, pushing to a real collector.</summary>
[Collection("cpu sampling")]
public sealed class HotpathAgentTests
{
    [Fact]
    public async Task One_line_in_a_host_makes_it_push_cpu_profiles_of_itself_with_its_labels()
    {
        await using var collector = await CollectorInstance.StartAsync();
        var service = CollectorInstance.NewServiceName();
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddHotpathAgent(o =>
        {
            o.CollectorAddress = collector.BaseAddress.ToString();
            o.Service = service;
            o.Labels["version"] = "1.4";
            o.CpuWindow = TimeSpan.FromSeconds(2);
            o.Interval = TimeSpan.FromSeconds(2);
            o.MaxJitter = TimeSpan.Zero;
        });
        using var host = builder.Build();
        using var stop = new CancellationTokenSource();
        var burner = new Thread(() => { while (!stop.IsCancellationRequested) Thread.SpinWait(1000); }) { IsBackground = true };
        burner.Start();

        await host.StartAsync();
        string found = "";
        for (var i = 0; i < 100 && found.Length == 0; i++)
        {
            await Task.Delay(200);
            using var response = await collector.GetAsync($"/api/0/profiles?service={service}&type=cpu&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00&labels=version%3D1.4");
            if (response.IsSuccessStatusCode)
                found = await response.Content.ReadAsStringAsync();
        }

        await host.StopAsync();
        await stop.CancelAsync();
        burner.Join();
        Assert.Contains($"\"instance_id\":\"{Environment.MachineName}-{Environment.ProcessId}\"", found);
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
}
