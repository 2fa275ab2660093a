using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Hotpath.Cli;

/// <summary>A failure the user should read: collector unreachable, or its error text for a 4xx/5xx.</summary>
public sealed class CollectorException(string message, HttpStatusCode? status = null) : Exception(message)
{
    public HttpStatusCode? Status { get; } = status;
}

/// <summary>The profefe API v0 from the client side.</summary>
/// <param name="tenant">Sent as X-Scope-OrgID on every request; null: the default tenant.</param>
public sealed class CollectorClient(Uri baseAddress, string? token, string? tenant = null, HttpMessageHandler? handler = null) : IDisposable
{
    private readonly HttpClient _http = CreateHttp(baseAddress, token, tenant, handler);

    public Uri BaseAddress { get; } = baseAddress;

    private static HttpClient CreateHttp(Uri baseAddress, string? token, string? tenant, HttpMessageHandler? handler)
    {
        var http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        http.BaseAddress = baseAddress;
        http.Timeout = TimeSpan.FromMinutes(5);
        if (!string.IsNullOrEmpty(token))
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (!string.IsNullOrEmpty(tenant))
            http.DefaultRequestHeaders.Add("X-Scope-OrgID", tenant);
        return http;
    }

    /// <summary>Stores a profile; returns the reply's body object.</summary>
    public async Task<JsonElement> PostAsync(string query, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        using var content = new ReadOnlyMemoryContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await SendAsync(() => _http.PostAsync("/api/0/profiles?" + query, content, cancellationToken));
        return await BodyAsync(response, cancellationToken);
    }

    /// <summary>GETs a JSON endpoint; returns the "body" value, or null for 404 nothing found.</summary>
    public async Task<JsonElement?> GetJsonAsync(string pathAndQuery, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(() => _http.GetAsync(pathAndQuery, cancellationToken));
        if (response.StatusCode == HttpStatusCode.NotFound)
            return null;
        return await BodyAsync(response, cancellationToken);
    }

    /// <summary>GETs bytes (a stored or merged profile).</summary>
    public async Task<byte[]> GetBytesAsync(string pathAndQuery, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(() => _http.GetAsync(pathAndQuery, cancellationToken));
        if (!response.IsSuccessStatusCode)
            throw await ErrorAsync(response, cancellationToken);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken);
    }

    private async Task<HttpResponseMessage> SendAsync(Func<Task<HttpResponseMessage>> send)
    {
        try
        {
            return await send();
        }
        catch (HttpRequestException e)
        {
            throw new CollectorException($"cannot reach the collector at {BaseAddress}: {e.Message}");
        }
        catch (TaskCanceledException e) when (e.InnerException is TimeoutException)
        {
            throw new CollectorException($"the collector at {BaseAddress} did not answer in time");
        }
    }

    private static async Task<JsonElement> BodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
            throw await ErrorAsync(response, cancellationToken);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        return json.RootElement.TryGetProperty("body", out var body) ? body.Clone() : default;
    }

    private static async Task<CollectorException> ErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            using var json = JsonDocument.Parse(text);
            if (json.RootElement.TryGetProperty("error", out var error))
                text = error.GetString() ?? text;
            if (json.RootElement.TryGetProperty("hint", out var hint))
                text += $" ({hint.GetString()})";
        }
        catch (JsonException)
        {
            // Not the profefe envelope: show what came.
        }

        return new CollectorException($"{(int)response.StatusCode} {response.ReasonPhrase}: {text}", response.StatusCode);
    }

    public void Dispose() => _http.Dispose();
}
