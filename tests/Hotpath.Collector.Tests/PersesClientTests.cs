using System.Text.Json;
using Hotpath.Testing;

namespace Hotpath.Collector.Tests;

/// <summary>
/// Perses's own Pyroscope client (npm @perses-dev/pyroscope-plugin, lib/cjs/model/pyroscope-client.js, installed by
/// test.sh) against a real collector: its render, profile types, label names and label values, as a Perses
/// dashboard calls them (content type and body as its plugin sends them).
/// </summary>
public sealed class PersesClientTests(CollectorFixture fixture) : IClassFixture<CollectorFixture>, IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 6, 2, 12, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Directory.CreateTempSubdirectory("hotpath-perses-").FullName;

    private static string Client => Path.Combine(TestData.ProjectRoot, ".test-tools", "node_modules", "@perses-dev", "pyroscope-plugin", "lib", "cjs", "model", "pyroscope-client.js");

    /// <summary>Runs one call of the client; its answer as JSON.</summary>
    private async Task<JsonElement> CallAsync(string call)
    {
        Assert.True(File.Exists(Client), $"{Client} is missing: test.sh installs @perses-dev/pyroscope-plugin");
        var script = Path.Combine(_directory, "call.js");
        await File.WriteAllTextAsync(script, $$"""
            // The plugin's one import of @perses-dev/core is its fetch: Node's own stands in for it.
            const Module = require("module");
            const resolve = Module._resolveFilename;
            Module._resolveFilename = function (request, ...rest) { return request === "@perses-dev/core" ? require.resolve("./core.js") : resolve.call(this, request, ...rest); };
            const client = require({{JsonSerializer.Serialize(Client)}});
            const options = { datasourceUrl: process.env.URL, headers: { "content-type": "application/json" } };
            (async () => { console.log(JSON.stringify(await {{call}})); })().catch((e) => { console.error(e); process.exit(1); });
            """);
        await File.WriteAllTextAsync(Path.Combine(_directory, "core.js"), "exports.fetch = (...args) => fetch(...args);");
        var run = await ToolRun.RunAsync("node", [script], _directory, new Dictionary<string, string> { ["URL"] = fixture.Collector.BaseAddress.ToString().TrimEnd('/') });
        Assert.True(run.ExitCode == 0, run.Output + run.Error);
        using var answer = JsonDocument.Parse(run.Output);
        return answer.RootElement.Clone();
    }

    [Fact]
    public async Task Perses_renders_a_flame_graph_and_its_timeline_and_lists_types_labels_and_values()
    {
        var service = CollectorInstance.NewServiceName("perses");
        string[] files = ["cpu_1.pb.gz", "cpu_2.pb.gz"];
        for (var i = 0; i < files.Length; i++)
            await fixture.Collector.PostOkAsync(service, "cpu", ProfileBytes.WithTime(files[i], T0.AddMinutes(i)), $"&labels=version%3D1.{i}");
        // Perses asks for services with no range, which is the last hour: a service profiled just now.
        var recent = CollectorInstance.NewServiceName("perses-recent");
        await fixture.Collector.PostOkAsync(recent, "cpu", ProfileBytes.WithTime("cpu_3.pb.gz", TestClock.UtcNow.AddMinutes(-5)));
        var (from, until) = (T0.AddHours(-1).ToUnixTimeSeconds(), T0.AddHours(1).ToUnixTimeSeconds());

        var render = await CallAsync($$"""client.searchProfiles({ query: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="{{service}}"}', from: '{{from}}', until: '{{until}}', format: 'json', 'max-nodes': '512' }, options)""");
        var types = await CallAsync($$"""client.searchProfileTypes({}, options, { start: '{{from * 1000}}', end: '{{until * 1000}}' })""");
        var names = await CallAsync($$"""client.searchLabelNames({}, options, { matchers: ['{service_name="{{service}}"}'] })""");
        var versions = await CallAsync($$"""client.searchLabelValues({}, options, { name: 'version', matchers: ['{service_name="{{service}}"}'], start: '{{from * 1000}}', end: '{{until * 1000}}' })""");
        var services = await CallAsync($$"""client.searchServices({}, { ...options }, {})""");

        var total = files.Sum(f => TestData.Totals[f][1]);
        Assert.Equal(total, render.GetProperty("flamebearer").GetProperty("numTicks").GetInt64());
        Assert.Equal(total, render.GetProperty("flamebearer").GetProperty("levels")[0][1].GetInt64());
        Assert.Equal(total, render.GetProperty("timeline").GetProperty("samples").EnumerateArray().Sum(s => s.GetInt64()));
        Assert.Equal("samples", render.GetProperty("metadata").GetProperty("units").GetString());
        Assert.Contains(types.GetProperty("profileTypes").EnumerateArray(), t => t.GetProperty("ID").GetString() == "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
        Assert.Contains("version", names.GetProperty("names").EnumerateArray().Select(n => n.GetString()));
        Assert.Equal(["1.0", "1.1"], versions.GetProperty("names").EnumerateArray().Select(n => n.GetString()));
        Assert.Contains(recent, services.GetProperty("names").EnumerateArray().Select(n => n.GetString()));
        Assert.DoesNotContain(service, services.GetProperty("names").EnumerateArray().Select(n => n.GetString()));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
