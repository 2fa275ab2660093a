using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Hotpath.Collector;
using Hotpath.Pprof;
using Hotpath.Pprof.Proto;
using Microsoft.AspNetCore.Builder;
using Xunit;

namespace Hotpath.Testing;

/// <summary>
/// A real collector on a real Kestrel port (127.0.0.1, port chosen by the OS) over a real SQLite file in a
/// temporary folder, started in this process. Extra settings go in as command-line overrides.
/// </summary>
public sealed class CollectorInstance : IAsyncDisposable
{
    private readonly WebApplication _app;

    private readonly bool _ownsData;

    private CollectorInstance(WebApplication app, string dataDirectory, Uri baseAddress, bool ownsData)
    {
        _app = app;
        _ownsData = ownsData;
        DataDirectory = dataDirectory;
        BaseAddress = baseAddress;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public string DataDirectory { get; }

    public Uri BaseAddress { get; }

    public HttpClient Http { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Every address Kestrel bound, the API's first (then OTLP gRPC's, when a test turned it on).</summary>
    public IReadOnlyList<string> Addresses => CollectorApp.ListeningOn(_app);

    public static Task<CollectorInstance> StartAsync(params string[] settings) => StartAsync(null, settings);

    /// <summary>A collector that reads the time from <paramref name="clock"/> (null: the tests' own, <see cref="TestClock"/>).</summary>
    public static async Task<CollectorInstance> StartAsync(TimeProvider? clock, params string[] settings)
    {
        var given = settings.FirstOrDefault(s => s.StartsWith("--Storage:DataDirectory=", StringComparison.Ordinal))?.Split('=', 2)[1];
        var dataDirectory = given ?? Path.Combine(Path.GetTempPath(), "hotpath-test-" + Guid.NewGuid().ToString("N"));
        string[] args =
        [
            "--Collector:Address=127.0.0.1:0",
            // Off unless a test asks for it: OTLP's fixed port cannot be shared by collectors running side by side.
            "--Collector:OtlpGrpcAddress=",
            $"--Storage:DataDirectory={dataDirectory}",
            "--Logging:LogLevel:Default=Warning",
            .. settings,
        ];
        var app = CollectorApp.Build(args, clock ?? TestClock.Provider);
        await app.StartAsync();
        var address = CollectorApp.ListeningOn(app)[0];
        return new CollectorInstance(app, dataDirectory, new Uri(address), ownsData: given is null);
    }

    /// <summary>A service name no other test uses.</summary>
    public static string NewServiceName(string tag = "svc") => $"{tag}-{Guid.NewGuid():N}";

    public async Task<HttpResponseMessage> PostAsync(string query, byte[] body, string? token = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/0/profiles?" + query) { Content = new ByteArrayContent(body) };
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await Http.SendAsync(request);
    }

    /// <summary>Posts a profile that must be accepted; returns the reply's body object.</summary>
    public async Task<JsonElement> PostOkAsync(string service, string type, byte[] body, string extraQuery = "")
    {
        using var response = await PostAsync($"service={Uri.EscapeDataString(service)}&type={type}{extraQuery}", body);
        var envelope = await ReadEnvelopeAsync(response);
        if (response.StatusCode != HttpStatusCode.OK)
            throw new InvalidOperationException($"POST failed: {(int)response.StatusCode} {envelope}");
        return envelope.GetProperty("body");
    }

    public async Task<HttpResponseMessage> GetAsync(string pathAndQuery) => await Http.GetAsync(pathAndQuery);

    /// <summary>GETs a merged (or stored) profile that must exist, and decodes it.</summary>
    public async Task<Profile> GetProfileAsync(string pathAndQuery)
    {
        using var response = await Http.GetAsync(pathAndQuery);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        if (response.StatusCode != HttpStatusCode.OK)
            throw new InvalidOperationException($"GET {pathAndQuery}: {(int)response.StatusCode} {System.Text.Encoding.UTF8.GetString(bytes)}");
        return new ProfileDecoder().Decode(bytes);
    }

    /// <summary>Metadata of every profile a service has stored, at any time; empty when none.</summary>
    public async Task<List<JsonElement>> FindAllAsync(string service, string? token = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/0/profiles?service={Uri.EscapeDataString(service)}&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00");
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await Http.SendAsync(request);
        return response.StatusCode == HttpStatusCode.NotFound
            ? []
            : [.. (await ReadEnvelopeAsync(response)).GetProperty("body").EnumerateArray()];
    }

    public static async Task<JsonElement> ReadEnvelopeAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        // The UI's flame trees nest up to 800 levels; JsonDocument stops at 64 unless told.
        using var document = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 1000 });
        return document.RootElement.Clone();
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (!_ownsData || !Directory.Exists(DataDirectory))
            return; // a folder the test chose outlives this collector
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is not worth failing a test over.
        }
    }
}

/// <summary>One collector shared by the tests of a class (xunit class fixture).</summary>
public sealed class CollectorFixture : IAsyncLifetime
{
    private CollectorInstance? _instance;

    public CollectorInstance Collector => _instance ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _instance = await CollectorInstance.StartAsync();

    public async Task DisposeAsync()
    {
        if (_instance is not null)
            await _instance.DisposeAsync();
    }
}
