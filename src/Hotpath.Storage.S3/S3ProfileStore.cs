using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Amazon.S3.Model;
using Hotpath.Pprof;

namespace Hotpath.Storage.S3;

/// <summary>
/// Profiles in S3-compatible object storage. Per profile: the body (<c>bodies/{id}</c>), its metadata
/// (<c>meta/{id}</c>), and an index entry <c>index/{service}/{type}/{created:D19}.{id}/{meta…}</c> whose name
/// carries the metadata, so that find is one prefix listing per type, in time order, without reading any
/// body. Service names are base64url in keys, so nothing a client sends can leave the prefix.
/// Bodies and metadata are written before the index entry: a profile is never found without its bytes.
/// </summary>
public sealed class S3ProfileStore : IProfileStore, IDisposable
{
    private const int MaxKeyLength = 1000;
    private const string MetaInObject = "-";
    private const int MetaSegment = 200;

    private readonly S3Bucket _bucket;
    private readonly string _prefix;

    public S3ProfileStore(S3StoreOptions options)
    {
        _bucket = new S3Bucket(options);
        _prefix = _bucket.Prefix;
    }

    public string Backend => S3Bucket.Backend;

    /// <summary>Answers when the bucket exists (made if configured so) and a listing of it answers.</summary>
    public Task ProbeAsync(CancellationToken cancellationToken) => _bucket.ProbeAsync(cancellationToken);

    public async Task<ProfileMeta> WriteAsync(NewProfile profile, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var meta = new ProfileMeta(profile.Id ?? ProfileId.New(), profile.Service, profile.Type, profile.InstanceId, profile.Labels,
            profile.CreatedAtUnixNanos, body.Length, profile.Value);
        var json = MetaJson.Write(meta);
        await Task.WhenAll(
            _bucket.PutAsync(_prefix + "bodies/" + meta.Id, body, cancellationToken),
            _bucket.PutAsync(_prefix + "meta/" + meta.Id, json, cancellationToken),
            _bucket.PutAsync(_prefix + "services/" + Segment(meta.Service), ReadOnlyMemory<byte>.Empty, cancellationToken));
        var key = IndexKey(meta, json);
        await _bucket.PutAsync(key, key.EndsWith("/" + MetaInObject, StringComparison.Ordinal) ? json : ReadOnlyMemory<byte>.Empty, cancellationToken);
        return meta;
    }

    private string TypePrefix(string service, ProfileType type) => $"{_prefix}index/{Segment(service)}/{(int)type}/";

    /// <summary>
    /// The index entry: "{created}.{id}/" then the metadata as base64url in segments of at most 200 characters,
    /// because file-backed S3 servers (MinIO, s3rver) store each segment as a file name of at most 255 bytes.
    /// </summary>
    private string IndexKey(ProfileMeta meta, byte[] json)
    {
        var head = $"{TypePrefix(meta.Service, meta.Type)}{Time(meta.CreatedAtUnixNanos)}.{meta.Id}/";
        var encoded = Base64Url(json);
        var key = head + string.Join('/', encoded.Chunk(MetaSegment).Select(c => new string(c)));
        return key.Length <= MaxKeyLength ? key : head + MetaInObject;
    }

    private static string Time(long nanos) => Math.Max(0, nanos).ToString("D19", CultureInfo.InvariantCulture);

    public async Task<IReadOnlyList<ProfileMeta>> FindAsync(ProfileQuery query, CancellationToken cancellationToken)
    {
        var types = query.Type is { } t ? [t] : ProfileTypes.All;
        var found = new List<ProfileMeta>();
        foreach (var type in types)
        {
            await foreach (var meta in ListIndexAsync(query.Service, type, query.FromUnixNanos, query.ToUnixNanos, cancellationToken))
            {
                if (query.MatchesLabels(meta.Labels))
                    found.Add(meta);
            }
        }

        found.Sort((a, b) => a.CreatedAtUnixNanos != b.CreatedAtUnixNanos ? a.CreatedAtUnixNanos.CompareTo(b.CreatedAtUnixNanos) : string.CompareOrdinal(a.Id, b.Id));
        return query.Limit > 0 && found.Count > query.Limit ? found[^query.Limit..] : found;
    }

    /// <summary>Index entries of one service and type with from ≤ created ≤ to, in time order.</summary>
    private async IAsyncEnumerable<ProfileMeta> ListIndexAsync(string service, ProfileType type, long from, long to,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var prefix = TypePrefix(service, type);
        var request = new ListObjectsV2Request { BucketName = _bucket.Name, Prefix = prefix };
        if (from > 0)
            request.StartAfter = prefix + Time(from - 1) + "~"; // '~' sorts after every id character
        while (true)
        {
            var page = await _bucket.GuardAsync(token => _bucket.Client.ListObjectsV2Async(request, token), cancellationToken);
            foreach (var obj in page.S3Objects ?? [])
            {
                var name = obj.Key[prefix.Length..];
                var created = long.Parse(name.AsSpan(0, 19), CultureInfo.InvariantCulture);
                if (created > to)
                    yield break;
                if (created >= from)
                    yield return await ReadIndexAsync(obj.Key, name, cancellationToken);
            }

            if (page.IsTruncated != true)
                yield break;
            request.ContinuationToken = page.NextContinuationToken;
        }
    }

    private async Task<ProfileMeta> ReadIndexAsync(string key, string name, CancellationToken cancellationToken)
    {
        var encoded = name[(name.IndexOf('/', StringComparison.Ordinal) + 1)..].Replace("/", "", StringComparison.Ordinal);
        var json = encoded == MetaInObject ? await GetBytesAsync(key, cancellationToken) : FromBase64Url(encoded);
        return MetaJson.Read(json!);
    }

    public async Task<IReadOnlyList<ProfileMeta>> GetAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var metas = await Task.WhenAll(ids.Where(id => ProfileId.IsWellFormed(id)).Distinct().Select(async id =>
            await GetBytesAsync(_prefix + "meta/" + id, cancellationToken) is { } json ? MetaJson.Read(json) : null));
        var byId = metas.OfType<ProfileMeta>().ToDictionary(m => m.Id, StringComparer.Ordinal);
        return [.. ids.Where(byId.ContainsKey).Select(id => byId[id])];
    }

    public async IAsyncEnumerable<byte[]> OpenAsync(IReadOnlyList<string> ids, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // A few requests in flight ahead of the consumer, bodies handed over in the order asked.
        var pending = new Queue<Task<byte[]?>>();
        foreach (var id in ids)
        {
            pending.Enqueue(ProfileId.IsWellFormed(id) ? GetBytesAsync(_prefix + "bodies/" + id, cancellationToken) : Task.FromResult<byte[]?>(null));
            if (pending.Count >= 8 && await pending.Dequeue() is { } body)
                yield return body;
        }

        while (pending.Count > 0)
        {
            if (await pending.Dequeue() is { } body)
                yield return body;
        }
    }

    private Task<byte[]?> GetBytesAsync(string key, CancellationToken cancellationToken) => _bucket.GetAsync(key, cancellationToken);

    public async Task<IReadOnlyList<string>> ListServicesAsync(CancellationToken cancellationToken)
    {
        // One marker object per service: a listing of markers, not of every profile.
        var services = new List<string>();
        await foreach (var key in _bucket.ListKeysAsync(_prefix + "services/", cancellationToken))
            services.Add(FromSegment(key[(_prefix.Length + "services/".Length)..]));
        services.Sort(StringComparer.Ordinal);
        return services;
    }

    public async Task<IReadOnlyList<ProfileLabel>> ListLabelsAsync(string service, CancellationToken cancellationToken)
    {
        var labels = new SortedSet<(string, string)>();
        foreach (var type in ProfileTypes.All)
        {
            await foreach (var meta in ListIndexAsync(service, type, 0, long.MaxValue, cancellationToken))
                labels.UnionWith(meta.Labels.Select(l => (l.Key, l.Value)));
        }

        return [.. labels.Select(l => new ProfileLabel(l.Item1, l.Item2))];
    }

    public Task<IReadOnlyList<SeriesPoint>> SeriesAsync(ProfileQuery query, long resolutionNanos, CancellationToken cancellationToken) =>
        SeriesPoint.FromFindAsync(this, query, cancellationToken);

    public Task<IReadOnlyList<LabeledSeriesPoint>> SeriesByLabelAsync(ProfileQuery query, string key, long resolutionNanos, CancellationToken cancellationToken) =>
        LabeledSeriesPoint.FromFindAsync(this, query, key, cancellationToken);

    /// <summary>Pre-merges nothing: a merge reads the raw bodies of what a find selects.</summary>
    public Task<MergeSource> OpenMergeAsync(ProfileQuery query, int maxRawProfiles, CancellationToken cancellationToken) =>
        MergeSource.FromFindAsync(this, query, maxRawProfiles, cancellationToken);

    /// <summary>Deletes raw profiles past the cutoff; this engine keeps no aggregates.</summary>
    public async Task<int> DeleteOlderThanAsync(long cutoffUnixNanos, long aggregateCutoffUnixNanos, CancellationToken cancellationToken)
    {
        var deleted = 0;
        var written = ProfileId.FirstAt(cutoffUnixNanos);
        foreach (var service in await ListServicesAsync(cancellationToken))
        {
            foreach (var type in ProfileTypes.All)
            {
                var expired = new List<ProfileMeta>();
                await foreach (var meta in ListIndexAsync(service, type, 0, cutoffUnixNanos - 1, cancellationToken))
                {
                    if (string.CompareOrdinal(meta.Id, written) < 0)
                        expired.Add(meta); // else written within the retention: kept from its arrival
                }
                foreach (var chunk in expired.Chunk(300))
                {
                    // Index first: a profile stops being found before its bytes go.
                    await DeleteAsync(chunk.Select(m => IndexKey(m, MetaJson.Write(m))), cancellationToken);
                    await DeleteAsync(chunk.SelectMany(m => new[] { _prefix + "bodies/" + m.Id, _prefix + "meta/" + m.Id }), cancellationToken);
                    deleted += chunk.Length;
                }
            }

            if (!await HasProfilesAsync(service, cancellationToken))
                await DeleteAsync([_prefix + "services/" + Segment(service)], cancellationToken);
        }

        return deleted;
    }

    private Task DeleteAsync(IEnumerable<string> keys, CancellationToken cancellationToken) => _bucket.DeleteAsync(keys, cancellationToken);

    private async Task<bool> HasProfilesAsync(string service, CancellationToken cancellationToken)
    {
        var page = await _bucket.GuardAsync(token => _bucket.Client.ListObjectsV2Async(new ListObjectsV2Request
        {
            BucketName = _bucket.Name,
            Prefix = $"{_prefix}index/{Segment(service)}/",
            MaxKeys = 1,
        }, token), cancellationToken);
        return page.S3Objects is { Count: > 0 };
    }

    private static string Segment(string service) => Base64Url(Encoding.UTF8.GetBytes(service));

    private static string FromSegment(string segment) => Encoding.UTF8.GetString(FromBase64Url(segment));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string text)
    {
        var b64 = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '='));
    }

    public void Dispose() => _bucket.Dispose();
}
