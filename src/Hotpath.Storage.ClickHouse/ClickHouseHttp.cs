using System.Net.Http.Headers;
using System.Text;

namespace Hotpath.Storage.ClickHouse;

/// <summary>
/// ClickHouse's HTTP interface: one query or statement a request, results as RowBinary, each call bounded by
/// Storage:Timeout, and every failure (timeout, unreachable, an error answer) a <see cref="StorageUnavailableException"/>.
/// </summary>
internal sealed class ClickHouseHttp : IDisposable
{
    public const string Backend = "clickhouse";

    private readonly HttpClient _http;
    private readonly TimeSpan _timeout;

    public ClickHouseHttp(ClickHouseStoreOptions options)
    {
        _timeout = options.Timeout;
        // ClickHouse closes a keep-alive connection after keep_alive_timeout (3 s by default): a pooled connection idle
        // longer may be closed under a request just sent on it ("the response ended prematurely"), so none is kept that long.
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(2) })
        {
            BaseAddress = new Uri(options.Url.TrimEnd('/') + "/"),
            Timeout = options.Timeout,
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{options.User}:{options.Password}")));
    }

    /// <summary>
    /// The rows of a SELECT, as RowBinary. A SELECT whose connection ended before its answer began is asked once
    /// more on a new one: it changes nothing, and one connection closing under load is no server down.
    /// </summary>
    public async Task<byte[]> QueryAsync(string sql, CancellationToken cancellationToken)
    {
        try
        {
            return await PostAsync("", new StringContent(sql + " FORMAT RowBinary"), cancellationToken);
        }
        catch (StorageUnavailableException e) when (e.InnerException is HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded })
        {
            return await PostAsync("", new StringContent(sql + " FORMAT RowBinary"), cancellationToken);
        }
    }

    /// <summary>Runs a statement (DDL, ALTER); its answer's bytes.</summary>
    public Task<byte[]> ExecuteAsync(string sql, CancellationToken cancellationToken) => PostAsync("", new StringContent(sql), cancellationToken);

    /// <summary>Inserts RowBinary rows into a table (with its database).</summary>
    public Task<byte[]> InsertAsync(string table, ReadOnlyMemory<byte> rows, CancellationToken cancellationToken) =>
        PostAsync($"?query={Uri.EscapeDataString($"INSERT INTO {table} FORMAT RowBinary")}", new ReadOnlyMemoryContent(rows), cancellationToken);

    private async Task<byte[]> PostAsync(string pathAndQuery, HttpContent content, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.PostAsync(pathAndQuery, content, cancellationToken);
        }
        catch (TaskCanceledException e) when (e.InnerException is TimeoutException)
        {
            throw new StorageUnavailableException(Backend, $"ClickHouse did not answer within {_timeout.TotalSeconds:0.#} s (Storage:Timeout)", e);
        }
        catch (HttpRequestException e)
        {
            throw new StorageUnavailableException(Backend, "ClickHouse is unreachable", e);
        }

        using (response)
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                var text = Encoding.UTF8.GetString(bytes);
                throw new StorageUnavailableException(Backend, $"ClickHouse answered {(int)response.StatusCode}: {text[..Math.Min(300, text.Length)].Trim()}");
            }

            return bytes;
        }
    }

    public void Dispose() => _http.Dispose();
}
