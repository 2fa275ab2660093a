using System.Text;

namespace Hotpath.Storage.ClickHouse;

/// <summary>The HTTP interface: one query or statement a request, within the timeout, failures as StorageUnavailableException.</summary>
public sealed partial class ClickHouseProfileStore
{
    private Task<byte[]> QueryAsync(string sql, CancellationToken cancellationToken) =>
        SendAsync("", new StringContent(sql + " FORMAT RowBinary"), cancellationToken);

    private Task<byte[]> ExecuteAsync(string sql, CancellationToken cancellationToken) => SendAsync("", new StringContent(sql), cancellationToken);

    private async Task<byte[]> SendAsync(string pathAndQuery, HttpContent content, CancellationToken cancellationToken)
    {
        await _schema.WaitAsync(cancellationToken);
        return await SendCoreAsync(pathAndQuery, content, cancellationToken);
    }

    /// <summary>One call, bounded by Storage:Timeout (the client's timeout); failures become "unavailable".</summary>
    private async Task<byte[]> SendCoreAsync(string pathAndQuery, HttpContent content, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.PostAsync(pathAndQuery, content, cancellationToken);
        }
        catch (TaskCanceledException e) when (e.InnerException is TimeoutException)
        {
            throw new StorageUnavailableException(BackendName, $"ClickHouse did not answer within {_timeout.TotalSeconds:0.#} s (Storage:Timeout)", e);
        }
        catch (HttpRequestException e)
        {
            throw new StorageUnavailableException(BackendName, "ClickHouse is unreachable", e);
        }

        using (response)
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                var text = Encoding.UTF8.GetString(bytes);
                throw new StorageUnavailableException(BackendName, $"ClickHouse answered {(int)response.StatusCode}: {text[..Math.Min(300, text.Length)].Trim()}");
            }

            return bytes;
        }
    }
}
