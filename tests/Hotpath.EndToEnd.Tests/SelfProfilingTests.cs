using System.Net;
using System.Text.Json;
using Hotpath.Testing;

namespace Hotpath.EndToEnd.Tests;

/// <summary>The collector, configured to, profiles itself with its own agent, as profefe's collector does.</summary>
public sealed class SelfProfilingTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "hotpath-self-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task A_collector_with_self_profiling_on_stores_cpu_profiles_of_itself_under_its_own_service()
    {
        using var collector = await CollectorProcess.StartAsync(_data, null,
            "--Collector:SelfProfile=true", "--Hotpath:Agent:Types=Cpu", "--Hotpath:Agent:Window=00:00:02", "--Hotpath:Agent:Interval=00:00:02",
            "--Hotpath:Agent:MinJitter=00:00:00", "--Hotpath:Agent:MaxJitter=00:00:00", "--Hotpath:Agent:Labels:role=collector");
        using var http = new HttpClient { BaseAddress = collector.BaseAddress };

        string found = "";
        for (var i = 0; i < 150 && found.Length == 0; i++)
        {
            await Task.Delay(200);
            using var response = await http.GetAsync("/api/0/profiles?service=hotpath-collector&type=cpu&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00&labels=role%3Dcollector");
            if (response.StatusCode == HttpStatusCode.OK)
                found = await response.Content.ReadAsStringAsync();
        }

        Assert.True(found.Length > 0, collector.Output);
        var profile = JsonDocument.Parse(found).RootElement.GetProperty("body")[0];
        Assert.Equal($"{Environment.MachineName}-{collector.Id}", profile.GetProperty("instance_id").GetString());
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
            Directory.Delete(_data, recursive: true);
    }
}
