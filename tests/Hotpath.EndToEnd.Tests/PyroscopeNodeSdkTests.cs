using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Testing;

namespace Hotpath.EndToEnd.Tests;

/// <summary>The real Pyroscope Node.js SDK (@pyroscope/nodejs from npm, installed by test.sh) pointed at a real collector.</summary>
[Trait(TestCategory.Trait, TestCategory.MachineClock)]
public sealed class PyroscopeNodeSdkTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hotpath-pyroscope-node-").FullName;

    private static string SdkPath => Path.Combine(TestData.ProjectRoot, ".test-tools", "node_modules", "@pyroscope", "nodejs");

    [Fact]
    public async Task A_nodejs_app_with_the_pyroscope_sdk_sends_cpu_and_heap_profiles_that_show_its_hot_function()
    {
        Assert.True(Directory.Exists(SdkPath), $"{SdkPath} is missing: test.sh installs @pyroscope/nodejs");
        await using var collector = await CollectorInstance.StartAsync();
        var service = CollectorInstance.NewServiceName("node");
        var script = Path.Combine(_directory, "app.js");
        await File.WriteAllTextAsync(script, $$"""
            const Pyroscope = require({{System.Text.Json.JsonSerializer.Serialize(SdkPath)}}).default;
            Pyroscope.init({
              serverAddress: process.env.SERVER, appName: process.env.APP, tags: { region: 'eu' },
              flushIntervalMs: 2000, wall: { collectCpuTime: true },
            });
            Pyroscope.start();
            const kept = [];
            function burnTheCpuInAKnownFunction(ms) {
              const end = Date.now() + ms;
              let x = 0;
              while (Date.now() < end) { x += Math.sqrt(x + 1); kept.push(new Array(16).fill(x)); if (kept.length > 10000) kept.length = 0; }
              return x;
            }
            // In slices, so that the SDK's flush timer (every 2 s) runs: it sends heap profiles only then.
            (async () => {
              for (let i = 0; i < 30; i++) { burnTheCpuInAKnownFunction(200); await new Promise(r => setTimeout(r, 5)); }
              await Pyroscope.stop();
              process.exit(0);
            })();
            """);

        var node = await ToolRun.RunAsync("node", [script], _directory,
            new Dictionary<string, string> { ["SERVER"] = collector.BaseAddress.ToString().TrimEnd('/'), ["APP"] = service });

        Assert.True(node.ExitCode == 0, node.Output + node.Error);
        var found = await collector.FindAllAsync(service);
        var types = found.Select(m => m.GetProperty("type").GetString()).Distinct().Order().ToList();
        Assert.True(types.SequenceEqual(["cpu", "heap"]), $"types {string.Join(", ", types)}: {node.Output}{node.Error}");
        Assert.All(found, m => Assert.Contains(m.GetProperty("labels").EnumerateArray(),
            l => l.GetProperty("key").GetString() == "region" && l.GetProperty("value").GetString() == "eu"));
        var cpu = await collector.GetProfileAsync($"/api/0/profiles/merge?service={service}&type=cpu&from=now-1h&to=now");
        var index = Array.IndexOf(cpu.SampleTypeNames(), "cpu/nanoseconds");
        var top = TopTable.Build(cpu, index);
        Assert.Contains(top.Rows.Take(5), r => r.Function.Contains("burnTheCpuInAKnownFunction", StringComparison.Ordinal));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
