using System.Net;
using System.Runtime.CompilerServices;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Hotpath.Storage.S3;

/// <summary>
/// The bucket and key prefix both S3 engines use, and every call to it: made once the bucket is there
/// (created on first use when configured so), bounded by the timeout, its failures turned into
/// <see cref="StorageUnavailableException"/> naming "s3", never its credentials.
/// </summary>
internal sealed class S3Bucket : IDisposable
{
    public const string Backend = "s3";

    // While the bucket cannot be made, requests fail at once for this long before the next attempt.
    private static readonly TimeSpan RetryStartAfter = TimeSpan.FromSeconds(2);

    private readonly StartupGate? _gate;
    private readonly TimeSpan _timeout;

    public S3Bucket(S3StoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var config = new AmazonS3Config
        {
            ForcePathStyle = options.ForcePathStyle,
            MaxErrorRetry = 1,
            Timeout = options.Timeout,
        };
        if (!string.IsNullOrEmpty(options.ServiceUrl))
        {
            config.ServiceURL = options.ServiceUrl;
            config.AuthenticationRegion = options.Region;
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(options.Region);
        }

        Client = new AmazonS3Client(config);
        Name = options.Bucket;
        Prefix = options.Prefix.Length == 0 || options.Prefix.EndsWith('/') ? options.Prefix : options.Prefix + "/";
        _timeout = options.Timeout;
        if (options.CreateBucket)
            _gate = new StartupGate(EnsureAsync, RetryStartAfter);
    }

    public IAmazonS3 Client { get; }

    public string Name { get; }

    /// <summary>Ends with '/' unless empty.</summary>
    public string Prefix { get; }

    /// <summary>Answers when the bucket exists (made if configured so) and a listing of it answers.</summary>
    public async Task ProbeAsync(CancellationToken cancellationToken) =>
        await GuardAsync(token => Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Name, Prefix = Prefix, MaxKeys = 1 }, token), cancellationToken);

    private async Task EnsureAsync(CancellationToken cancellationToken)
    {
        await GuardCoreAsync(async token =>
        {
            try
            {
                await Client.PutBucketAsync(new PutBucketRequest { BucketName = Name }, token);
            }
            catch (AmazonS3Exception e) when (e.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
            {
                // Already there: fine.
            }

            return 0;
        }, cancellationToken);
    }

    public Task PutAsync(string key, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken) =>
        GuardAsync(async token =>
        {
            using var stream = new MemoryStream(bytes.ToArray(), writable: false);
            // UseChunkEncoding = false: with it, some S3-compatible servers store the chunk framing as content.
            await Client.PutObjectAsync(new PutObjectRequest { BucketName = Name, Key = key, InputStream = stream, UseChunkEncoding = false, AutoCloseStream = false }, token);
            return 0;
        }, cancellationToken);

    /// <summary>The whole object, or a range of it; null when it is not there.</summary>
    public Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken, ByteRange? range = null) =>
        GuardAsync(async token =>
        {
            try
            {
                using var response = await Client.GetObjectAsync(new GetObjectRequest { BucketName = Name, Key = key, ByteRange = range }, token);
                using var copy = new MemoryStream(range is null ? 0 : (int)(range.End - range.Start + 1));
                await response.ResponseStream.CopyToAsync(copy, token);
                return copy.ToArray();
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return (byte[]?)null;
            }
        }, cancellationToken);

    public async Task DeleteAsync(IEnumerable<string> keys, CancellationToken cancellationToken)
    {
        // DeleteObjects takes at most 1,000 keys a call.
        foreach (var chunk in keys.Chunk(1000))
        {
            await GuardAsync(token => Client.DeleteObjectsAsync(new DeleteObjectsRequest
            {
                BucketName = Name,
                Objects = [.. chunk.Select(k => new KeyVersion { Key = k })],
            }, token), cancellationToken);
        }
    }

    public async IAsyncEnumerable<string> ListKeysAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var request = new ListObjectsV2Request { BucketName = Name, Prefix = prefix };
        while (true)
        {
            var page = await GuardAsync(token => Client.ListObjectsV2Async(request, token), cancellationToken);
            foreach (var obj in page.S3Objects ?? [])
                yield return obj.Key;
            if (page.IsTruncated != true)
                yield break;
            request.ContinuationToken = page.NextContinuationToken;
        }
    }

    /// <summary>
    /// Every call to S3, after the bucket is there: connection failures, server errors and calls that take
    /// longer than the timeout become "unavailable" (503), naming the backend, never its credentials.
    /// </summary>
    public async Task<T> GuardAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        if (_gate is not null)
            await _gate.WaitAsync(cancellationToken);
        return await GuardCoreAsync(call, cancellationToken);
    }

    private async Task<T> GuardCoreAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        try
        {
            return await call(timeout.Token);
        }
        catch (AmazonS3Exception e)
        {
            // A missing key is answered inside the call; a 404 here is a missing bucket.
            throw new StorageUnavailableException(Backend, $"object storage answered {(int)e.StatusCode} {e.ErrorCode}", e);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is OperationCanceledException or TimeoutException)
        {
            throw new StorageUnavailableException(Backend, $"object storage did not answer within {_timeout.TotalSeconds:0.#} s (Storage:Timeout)", e);
        }
        catch (Exception e) when (e is AmazonClientException or HttpRequestException or IOException)
        {
            throw new StorageUnavailableException(Backend, "object storage is unreachable", e);
        }
    }

    public void Dispose() => Client.Dispose();
}
