using System.Collections.Concurrent;
using Hotpath.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Hotpath.Cli.Tests;

/// <summary>scrape against a small server that serves the real test profiles at Go's /debug/pprof paths.</summary>
public sealed class ScrapeCommandTests : IAsyncLifetime
{
    private readonly ConcurrentQueue<string> _requests = new();
    private CollectorInstance _collector = null!;
    private WebApplication _goService = null!;
    private string _goUrl = "";

    public async Task InitializeAsync()
    {
        _collector = await CollectorInstance.StartAsync();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _goService = builder.Build();
        _goService.Use(async (context, next) =>
        {
            _requests.Enqueue(context.Request.Path + context.Request.QueryString);
            await next(context);
        });
        _goService.MapGet("/debug/pprof/profile", () => Results.Bytes(TestData.Bytes("cpu_1.pb.gz"), "application/octet-stream"));
        _goService.MapGet("/debug/pprof/heap", () => Results.Bytes(TestData.Bytes("heap_1.pb.gz"), "application/octet-stream"));
        _goService.MapGet("/debug/pprof/goroutine", () => Results.Bytes(TestData.Bytes("goroutine.pb.gz"), "application/octet-stream"));
        _goService.MapGet("/debug/pprof/mutex", () => Results.StatusCode(500));
        await _goService.StartAsync();
        _goUrl = _goService.Urls.First();
    }

    public async Task DisposeAsync()
    {
        await _goService.DisposeAsync();
        await _collector.DisposeAsync();
    }

    [Fact]
    public async Task One_round_stores_each_type_with_cpu_recorded_for_the_seconds_asked()
    {
        var service = CollectorInstance.NewServiceName();

        var result = await CliRunner.RunAsync(_collector, "scrape", "--target", _goUrl, "--service", service, "--types", "cpu,heap,goroutine",
            "--cpu-seconds", "3", "--label", "region=eu", "--rounds", "1");

        Assert.Equal(0, result.ExitCode);
        var stored = await _collector.FindAllAsync(service);
        Assert.Equal(["cpu", "goroutine", "heap"], stored.Select(p => p.GetProperty("type").GetString()).Order());
        Assert.All(stored, p => Assert.Equal("region", p.GetProperty("labels")[0].GetProperty("key").GetString()));
        Assert.Contains("/debug/pprof/profile?seconds=3", _requests);
        var cpu = stored.Single(p => p.GetProperty("type").GetString() == "cpu").GetProperty("id").GetString();
        Assert.Equal(TestData.Bytes("cpu_1.pb.gz"), await _collector.Http.GetByteArrayAsync("/api/0/profiles/" + cpu));
        Assert.Equal(new Uri(_goUrl).Authority, stored[0].GetProperty("instance_id").GetString());
    }

    [Fact]
    public async Task A_config_file_scrapes_several_targets_and_rounds_repeat()
    {
        var config = Path.GetTempFileName();
        await File.WriteAllTextAsync(config, $$"""
            {
              // two services behind the same test server
              "interval": "1s",
              "targets": [
                { "url": "{{_goUrl}}", "service": "cfg-a", "types": ["heap"], "labels": { "team": "a" } },
                { "url": "{{_goUrl}}", "service": "cfg-b", "types": ["goroutine"], "instance_id": "b-1" },
              ]
            }
            """);

        var result = await CliRunner.RunAsync(_collector, "scrape", "--config", config, "--rounds", "2");
        File.Delete(config);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(2, (await _collector.FindAllAsync("cfg-a")).Count);
        var b = await _collector.FindAllAsync("cfg-b");
        Assert.Equal(2, b.Count);
        Assert.Equal("b-1", b[0].GetProperty("instance_id").GetString());
    }

    [Fact]
    public async Task A_failing_endpoint_is_reported_and_the_other_types_are_still_stored()
    {
        var service = CollectorInstance.NewServiceName();

        var result = await CliRunner.RunAsync(_collector, "scrape", "--target", _goUrl, "-s", service, "--types", "mutex,heap", "--rounds", "1");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("failed mutex", result.Error);
        Assert.Contains("500", result.Error);
        Assert.Single(await _collector.FindAllAsync(service));
    }

    [Fact]
    public async Task Nothing_to_scrape_is_a_clear_error()
    {
        var result = await CliRunner.RunAsync(_collector, "scrape", "--rounds", "1");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("nothing to scrape", result.Error);
    }
}
