using System.Net;
using Hotpath.Collector.Hosting;
using Hotpath.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using static Hotpath.Collector.Tests.PostProfileTests;

namespace Hotpath.Collector.Tests;

public sealed class AccessControlTests
{
    [Fact]
    public async Task Every_api_route_is_protected_by_its_endpoint_not_by_its_path()
    {
        await using var collector = await CollectorInstance.StartAsync();

        // The profefe API, the ingest routes of the other protocols (Pyroscope's /ingest and push, OTLP's HTTP and gRPC export)
        // and Pyroscope's query service.
        static bool IsApi(string pattern) => pattern.StartsWith("/api", StringComparison.OrdinalIgnoreCase) || pattern.EndsWith("/ingest", StringComparison.Ordinal)
            || pattern is "/push.v1.PusherService/Push" or "/v1development/profiles" or "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
                or "/querier.v1.QuerierService/{method}" or "/settings.v1.SettingsService/Get" or "/mcp/" || pattern.StartsWith("/pyroscope/", StringComparison.Ordinal);
        var apiRoutes = Routes(collector).Where(r => IsApi(r.Pattern)).ToList();

        Assert.NotEmpty(apiRoutes);
        Assert.Contains(apiRoutes, r => r.Pattern == "/ingest");
        Assert.Contains(apiRoutes, r => r.Pattern == "/push.v1.PusherService/Push");
        Assert.Contains(apiRoutes, r => r.Pattern == "/v1development/profiles");
        Assert.Contains(apiRoutes, r => r.Pattern == "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export");
        Assert.Contains(apiRoutes, r => r.Pattern == "/querier.v1.QuerierService/{method}");
        Assert.Contains(apiRoutes, r => r.Pattern == "/mcp/");
        Assert.All(apiRoutes, r => Assert.True(r.Protected, $"{r.Pattern} carries no ApiAccess metadata"));
        Assert.DoesNotContain(Routes(collector), r => r.Protected && !IsApi(r.Pattern));
    }

    [Fact]
    public async Task Pyroscopes_query_service_reads_with_the_read_token_though_it_is_a_post()
    {
        await using var collector = await CollectorInstance.StartAsync("--Auth:WriteToken=w-secret", "--Auth:ReadToken=r-secret");

        async Task<string?> ErrorAsync(string? token) =>
            (await new ConnectQuerierClient(collector.BaseAddress, binary: true, token).CallAsync("profileTypes", new { })).ErrorCode;

        Assert.Null(await ErrorAsync("r-secret"));
        Assert.Equal("Unauthenticated", await ErrorAsync("w-secret"));
        Assert.Equal("Unauthenticated", await ErrorAsync(null));
    }

    [Fact]
    public async Task No_casing_of_any_api_route_answers_without_the_token()
    {
        await using var collector = await CollectorInstance.StartAsync("--Auth:WriteToken=w-secret", "--Auth:ReadToken=r-secret");
        var body = TestData.Bytes("cpu_1.pb.gz");
        var tried = 0;

        foreach (var route in Routes(collector).Where(r => r.Protected))
        {
            foreach (var method in route.Methods.Count > 0 ? route.Methods : ["GET", "POST", "DELETE"])
            {
                foreach (var path in Casings(Concrete(route.Pattern)))
                {
                    using var request = new HttpRequestMessage(new HttpMethod(method), path + "?service=s&type=cpu&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00");
                    // MCP's route takes JSON only (routing passes anything else to the fallback's 404).
                    if (method == "POST")
                        request.Content = route.Pattern == "/mcp/" ? new StringContent("{}", System.Text.Encoding.UTF8, "application/json") : new ByteArrayContent(body);
                    using var response = await collector.Http.SendAsync(request);
                    if (method == "HEAD")
                        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
                    else if ((route.Pattern.Contains(".v1.", StringComparison.Ordinal) || route.Pattern.StartsWith("/pyroscope/", StringComparison.Ordinal))
                             && !route.Pattern.StartsWith("/opentelemetry", StringComparison.Ordinal) && !route.Pattern.EndsWith("/ingest", StringComparison.Ordinal))
                        await AssertConnectError(response, "unauthenticated", "unauthorized: missing or wrong bearer token"); // Pyroscope's query API, Connect's shape
                    else
                        await AssertError(response, 401, "unauthorized: missing or wrong bearer token");
                    tried++;
                }
            }
        }

        Assert.True(tried >= 40, $"only {tried} requests were tried");
        Assert.Empty(await collector.FindAllAsync("s", token: "r-secret"));
    }

    private sealed record Route(string Pattern, IReadOnlyList<string> Methods, bool Protected);

    private static IEnumerable<Route> Routes(CollectorInstance collector) =>
        collector.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Select(e => new Route(
                "/" + e.RoutePattern.RawText!.TrimStart('/'),
                e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? [],
                e.Metadata.GetMetadata<ApiAccess>() is not null));

    /// <summary>A path the pattern matches: each parameter becomes a plausible value.</summary>
    private static string Concrete(string pattern) =>
        System.Text.RegularExpressions.Regex.Replace(pattern, @"\{\*{0,2}(\w+)[^}]*\}", m => m.Groups[1].Value == "ids" ? "abc+def" : "x");

    /// <summary>As given, lower case, upper case, and each letter's case flipped in turn of a few patterns.</summary>
    private static IEnumerable<string> Casings(string path)
    {
        string Flip(Func<int, bool> which) => string.Concat(path.Select((c, i) => which(i) ? (char.IsUpper(c) ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)) : c));
        return new[] { path, path.ToLowerInvariant(), path.ToUpperInvariant(), Flip(i => i % 2 == 0), Flip(i => i % 2 == 1), Flip(i => i == 1) }
            .Distinct(StringComparer.Ordinal);
    }

    /// <summary>Asserts Connect's error shape: the status, and <c>{"code","message"}</c> as JSON.</summary>
    private static async Task AssertConnectError(HttpResponseMessage response, string code, string message)
    {
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var error = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(code, error.RootElement.GetProperty("code").GetString());
        Assert.Equal(message, error.RootElement.GetProperty("message").GetString());
    }
}
