namespace Hotpath.Storage.ClickHouse;

/// <summary>Calls to ClickHouse (<see cref="ClickHouseHttp"/>), each once the schema is there.</summary>
public sealed partial class ClickHouseProfileStore
{
    private async Task<byte[]> QueryAsync(string sql, CancellationToken cancellationToken)
    {
        await _schema.WaitAsync(cancellationToken);
        return await _client.QueryAsync(sql, cancellationToken);
    }

    private async Task<byte[]> ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await _schema.WaitAsync(cancellationToken);
        return await _client.ExecuteAsync(sql, cancellationToken);
    }

    private async Task InsertAsync(string table, ReadOnlyMemory<byte> rows)
    {
        await _schema.WaitAsync(default);
        await _client.InsertAsync($"{_db}.{table}", rows, default);
    }
}
