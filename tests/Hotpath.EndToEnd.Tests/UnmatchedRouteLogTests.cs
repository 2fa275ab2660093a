using Hotpath.Testing;

namespace Hotpath.EndToEnd.Tests;

/// <summary>A client pointed at a route Hotpath does not serve shows up in the collector's log, not only in its own.</summary>
public sealed class UnmatchedRouteLogTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("hotpath-unmatched-").FullName;

    [Fact]
    public async Task An_unmatched_route_is_logged_at_debug_level_with_its_method_and_path()
    {
        using var collector = await CollectorProcess.StartAsync(_data, settings: "--Logging:LogLevel:Hotpath.Collector.Api.UnmatchedRoute=Debug");
        using var http = new HttpClient { BaseAddress = collector.BaseAddress };

        using var response = await http.PostAsync("/push?name=app.cpu", new ByteArrayContent([1, 2, 3]));

        Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);
        await Eventually.TrueAsync(() => collector.Output.Contains("No route answers POST /push: 404", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), "the collector logged no line for the unmatched route:\n" + collector.Output);
    }

    public void Dispose() => Directory.Delete(_data, recursive: true);
}
