using Amazon.S3.Model;

namespace Hotpath.Storage.S3;

/// <summary>
/// Objects under the configured bucket and prefix, for an engine that keeps its bytes in S3 and its
/// metadata elsewhere (ClickHouse with <c>Storage:Type=s3,clickhouse</c>): whole puts, ranged gets.
/// </summary>
public sealed class S3ObjectStore(S3StoreOptions options) : IObjectStore, IDisposable
{
    private readonly S3Bucket _bucket = new(options);

    public string Backend => S3Bucket.Backend;

    public Task ProbeAsync(CancellationToken cancellationToken) => _bucket.ProbeAsync(cancellationToken);

    public Task PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) =>
        _bucket.PutAsync(_bucket.Prefix + key, content, cancellationToken);

    public Task<byte[]?> ReadAsync(string key, long offset, int length, CancellationToken cancellationToken) =>
        length == 0 ? Task.FromResult<byte[]?>([]) : _bucket.GetAsync(_bucket.Prefix + key, cancellationToken, new ByteRange(offset, offset + length - 1));

    public Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) =>
        _bucket.DeleteAsync(keys.Select(k => _bucket.Prefix + k), cancellationToken);

    public void Dispose() => _bucket.Dispose();
}
