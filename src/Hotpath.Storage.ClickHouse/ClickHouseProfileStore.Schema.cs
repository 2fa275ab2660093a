using System.Text;

namespace Hotpath.Storage.ClickHouse;

/// <summary>The database and tables, made on first use.</summary>
public sealed partial class ClickHouseProfileStore
{
    private async Task CreateSchemaAsync(CancellationToken cancellationToken)
    {
        await _client.ExecuteAsync($"CREATE DATABASE IF NOT EXISTS {_db}", cancellationToken);
        foreach (var table in Tables())
            await _client.ExecuteAsync(table, cancellationToken);
        // A profiles table from before bodies could live in an object store (18.16 has no ADD COLUMN IF NOT EXISTS).
        var has = await _client.ExecuteAsync(
            $"SELECT count() FROM system.columns WHERE database = {Literal(_db)} AND table = 'profiles' AND name = 'body_object' FORMAT TabSeparated", cancellationToken);
        if (Encoding.ASCII.GetString(has).Trim() == "0")
            await _client.ExecuteAsync($"ALTER TABLE {_db}.profiles ADD COLUMN body_object String, ADD COLUMN body_offset UInt64", cancellationToken);
    }

    private IEnumerable<string> Tables()
    {
        yield return $"""
            CREATE TABLE IF NOT EXISTS {_db}.profiles (
                id String, service String, type UInt8, instance_id String,
                label_keys Array(String), label_values Array(String),
                created_at DateTime, created_nanos Int64, size UInt64, value Int64, body String, body_object String, body_offset UInt64
            ) ENGINE = MergeTree PARTITION BY toYYYYMMDD(created_at) ORDER BY (service, type, created_nanos, id)
            """;
        yield return $"""
            CREATE TABLE IF NOT EXISTS {_db}.profile_ids (id String, service String, type UInt8, created_at DateTime, created_nanos Int64)
            ENGINE = MergeTree PARTITION BY toYYYYMMDD(created_at) ORDER BY id
            """;
        yield return BucketPiecesTable;
    }
}
