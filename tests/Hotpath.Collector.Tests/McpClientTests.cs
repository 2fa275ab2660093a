using System.Text.Json;
using Hotpath.Testing;

namespace Hotpath.Collector.Tests;

/// <summary>
/// The collector's MCP server (<c>/mcp</c>, Streamable HTTP) through the official TypeScript SDK's client (npm
/// @modelcontextprotocol/sdk, installed by test.sh), as an assistant calls it: initialize, list the tools, call
/// them on a planted regression (<see cref="PlantedFleet"/>).
/// </summary>
public sealed class McpClientTests(PlantedFleet fleet) : IClassFixture<PlantedFleet>, IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hotpath-mcp-").FullName;

    private static string Sdk => Path.Combine(TestData.ProjectRoot, ".test-tools", "node_modules", "@modelcontextprotocol", "sdk", "dist", "cjs");

    /// <summary>Connects, runs <paramref name="calls"/> (JavaScript with <c>client</c> in scope, returning a value), and closes; the value as JSON.</summary>
    private async Task<JsonElement> RunAsync(string calls, CollectorInstance? collector = null, string? token = null)
    {
        Assert.True(Directory.Exists(Sdk), $"{Sdk} is missing: test.sh installs @modelcontextprotocol/sdk");
        var script = Path.Combine(_directory, "call.js");
        await File.WriteAllTextAsync(script, $$"""
            const { Client } = require({{JsonSerializer.Serialize(Path.Combine(Sdk, "client", "index.js"))}});
            const { StreamableHTTPClientTransport } = require({{JsonSerializer.Serialize(Path.Combine(Sdk, "client", "streamableHttp.js"))}});
            (async () => {
              const headers = process.env.TOKEN ? { Authorization: "Bearer " + process.env.TOKEN } : {};
              const transport = new StreamableHTTPClientTransport(new URL(process.env.URL + "/mcp"), { requestInit: { headers } });
              const client = new Client({ name: "hotpath-tests", version: "1.0.0" });
              await client.connect(transport);
              const answer = await (async () => { {{calls}} })();
              await client.close();
              console.log(JSON.stringify(answer));
            })().catch((e) => { console.error(String(e)); process.exit(1); });
            """);
        var environment = new Dictionary<string, string> { ["URL"] = (collector ?? fleet.Collector).BaseAddress.ToString().TrimEnd('/') };
        if (token is not null)
            environment["TOKEN"] = token;
        var run = await ToolRun.RunAsync("node", [script], _directory, environment);
        Assert.True(run.ExitCode == 0, run.Output + run.Error);
        using var answer = JsonDocument.Parse(run.Output);
        return answer.RootElement.Clone();
    }

    private string Range => $"from: {JsonSerializer.Serialize(ProfileBytes.Format(fleet.Start))}, to: {JsonSerializer.Serialize(ProfileBytes.Format(fleet.End))}";

    /// <summary>The JSON a tool answered, from its one text content.</summary>
    private static JsonElement Answer(JsonElement result)
    {
        Assert.False(result.TryGetProperty("isError", out var error) && error.GetBoolean(), result.ToString());
        using var json = JsonDocument.Parse(result.GetProperty("content")[0].GetProperty("text").GetString()!);
        return json.RootElement.Clone();
    }

    [Fact]
    public async Task An_assistant_lists_the_tools_a_postmortem_needs()
    {
        var answer = await RunAsync("return (await client.listTools()).tools.map((t) => ({ name: t.name, readOnly: t.annotations?.readOnlyHint }));");

        var tools = answer.EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!, t => t.GetProperty("readOnly").GetBoolean());
        Assert.Equal(["callers_and_callees", "list_labels", "list_profile_types", "list_services", "time_series", "top_functions", "what_changed"], tools.Keys.Order());
        Assert.All(tools.Values, Assert.True);
    }

    [Fact]
    public async Task What_changed_from_one_version_to_the_next_names_the_planted_function_first()
    {
        var answer = Answer(await RunAsync($$"""
            return await client.callTool({ name: "what_changed", arguments: { service: "{{fleet.Service}}", type: "cpu",
              baselineFrom: {{JsonSerializer.Serialize(ProfileBytes.Format(fleet.Start))}}, baselineTo: {{JsonSerializer.Serialize(ProfileBytes.Format(fleet.End))}},
              baselineSelector: '{version="1.4"}', targetSelector: '{version="1.5"}' } });
            """));

        var first = answer.GetProperty("changes")[0];
        Assert.Equal(fleet.Scenario.Leaf, first.GetProperty("function").GetString());
        Assert.Equal("regression", first.GetProperty("change").GetString());
        Assert.InRange(first.GetProperty("self_points").GetDouble(), 7, 9);
        Assert.Equal(PlantedFleet.Instances * PlantedFleet.Minutes, answer.GetProperty("target_profiles").GetInt32());
    }

    [Fact]
    public async Task What_changed_between_the_version_before_and_after_needs_only_the_label()
    {
        var answer = Answer(await RunAsync($$"""
            return await client.callTool({ name: "what_changed", arguments: { service: "{{fleet.Service}}", type: "cpu",
              baselineFrom: {{JsonSerializer.Serialize(ProfileBytes.Format(fleet.Start))}}, baselineTo: {{JsonSerializer.Serialize(ProfileBytes.Format(fleet.End))}}, versions: "version" } });
            """));

        Assert.Equal("version=1.4", answer.GetProperty("baseline").GetString());
        Assert.Equal("version=1.5", answer.GetProperty("target").GetString());
        Assert.Equal(fleet.Scenario.Leaf, answer.GetProperty("changes")[0].GetProperty("function").GetString());
    }

    [Fact]
    public async Task Top_functions_callers_and_the_series_of_a_version_answer_compactly()
    {
        var answer = await RunAsync($$"""
            const args = { service: "{{fleet.Service}}", type: "cpu", {{Range}}, selector: '{version="1.5"}' };
            const top = await client.callTool({ name: "top_functions", arguments: { ...args, limit: 5 } });
            const around = await client.callTool({ name: "callers_and_callees", arguments: { ...args, function: {{JsonSerializer.Serialize(fleet.Scenario.Leaf)}} } });
            const series = await client.callTool({ name: "time_series", arguments: { ...args, points: 3 } });
            const services = await client.callTool({ name: "list_services", arguments: {} });
            const labels = await client.callTool({ name: "list_labels", arguments: { service: "{{fleet.Service}}" } });
            return { top, around, series, services, labels };
            """);

        var top = Answer(answer.GetProperty("top"));
        Assert.Equal(5, top.GetProperty("functions").GetArrayLength());
        var leaf = Assert.Single(top.GetProperty("functions").EnumerateArray(), f => f.GetProperty("function").GetString() == fleet.Scenario.Leaf);
        Assert.Equal(PlantedFleet.Instances * PlantedFleet.Minutes, top.GetProperty("profiles").GetInt32());
        var around = Answer(answer.GetProperty("around"));
        Assert.Equal(leaf.GetProperty("total").GetInt64(), around.GetProperty("total").GetInt64());
        Assert.Equal(leaf.GetProperty("self").GetInt64(), around.GetProperty("self").GetInt64());
        Assert.NotEqual(0, around.GetProperty("callers").GetArrayLength());
        Assert.All(around.GetProperty("callers").EnumerateArray(), c => Assert.InRange(c.GetProperty("share").GetDouble(), 0, 1));
        var series = Answer(answer.GetProperty("series"));
        Assert.Equal(3, series.GetProperty("points").GetArrayLength());
        Assert.Equal(PlantedFleet.Instances * PlantedFleet.Minutes, series.GetProperty("points").EnumerateArray().Sum(p => p.GetProperty("profiles").GetInt32()));
        Assert.Contains(fleet.Service, Answer(answer.GetProperty("services")).EnumerateArray().Select(s => s.GetString()));
        Assert.Contains(Answer(answer.GetProperty("labels")).EnumerateArray(), l => l.GetProperty("key").GetString() == "version" && l.GetProperty("values_found").GetInt32() == 2);
    }

    [Fact]
    public async Task A_bad_selection_is_a_tool_error_in_the_API_s_words()
    {
        var answer = await RunAsync($$"""
            return await client.callTool({ name: "top_functions", arguments: { service: "{{fleet.Service}}", type: "cpu", from: "yesterday-ish" } });
            """);

        Assert.True(answer.GetProperty("isError").GetBoolean());
        Assert.Contains("bad \"from\" timestamp \"yesterday-ish\"", answer.GetProperty("content")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task A_post_whose_body_is_not_json_gets_a_json_rpc_error_415_not_the_404_of_a_wrong_address()
    {
        using var http = new HttpClient { BaseAddress = fleet.Collector.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent("tools/list", System.Text.Encoding.UTF8, "text/plain") };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");

        using var response = await http.SendAsync(request);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(System.Net.HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("2.0", body.RootElement.GetProperty("jsonrpc").GetString());
        Assert.Equal(-32600, body.RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Contains("application/json, not text/plain", body.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        // A JSON body still reaches the SDK (its own answer to a message that is not JSON-RPC).
        using var json = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json") };
        json.Headers.Accept.ParseAdd("application/json, text/event-stream");
        using var sdk = await http.SendAsync(json);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, sdk.StatusCode);
    }

    [Fact]
    public async Task The_server_takes_the_read_token_like_the_API_and_refuses_a_client_without_it()
    {
        await using var guarded = await CollectorInstance.StartAsync("--Auth:WriteToken=w-secret", "--Auth:ReadToken=r-secret");

        var tools = await RunAsync("return (await client.listTools()).tools.length;", guarded, "r-secret");
        var refused = await ToolRun.RunAsync("node", [Path.Combine(_directory, "call.js")], _directory,
            new Dictionary<string, string> { ["URL"] = guarded.BaseAddress.ToString().TrimEnd('/') });

        Assert.Equal(7, tools.GetInt32());
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("401", refused.Error);
    }

    [Fact]
    public async Task A_tenant_s_read_token_lists_its_own_services_and_no_other_tenant_s()
    {
        await using var tenants = await CollectorInstance.StartAsync("--Auth:Tenants:acme:WriteToken=acme-w", "--Auth:Tenants:acme:ReadToken=acme-r",
            "--Auth:Tenants:globex:ReadToken=globex-r");
        using (var written = await tenants.PostAsync($"service=acme-api&type=cpu", ProfileBytes.WithTime("cpu_1.pb.gz", TestClock.UtcNow.AddMinutes(-5)), "acme-w"))
            Assert.Equal(System.Net.HttpStatusCode.OK, written.StatusCode);

        var acme = Answer(await RunAsync("return await client.callTool({ name: \"list_services\", arguments: {} });", tenants, "acme-r"));
        var globex = Answer(await RunAsync("return await client.callTool({ name: \"list_services\", arguments: {} });", tenants, "globex-r"));

        Assert.Equal(["acme-api"], acme.EnumerateArray().Select(s => s.GetString()));
        Assert.Empty(globex.EnumerateArray());
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
