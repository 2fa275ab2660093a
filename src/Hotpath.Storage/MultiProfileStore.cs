using System.Runtime.CompilerServices;
using Hotpath.Pprof;

namespace Hotpath.Storage;

/// <summary>
/// Several engines as one (profefe's multi-writer): every write goes to all of them under one id; reads
/// come from the first that can serve them, falling back to the next while one is unavailable.
/// </summary>
/// <remarks>
/// A write succeeds when at least one engine took it, and its metadata says which did
/// (<see cref="ProfileMeta.StoredIn"/>): a client told "unavailable" would retry and store the profile
/// twice in the engines that had it, while a profile in one engine is found and merged as any other.
/// Only when no engine takes it is the write unavailable.
/// </remarks>
public sealed class MultiProfileStore(IReadOnlyList<IProfileStore> stores) : IProfileStore
{
    public string Backend { get; } = string.Join(",", stores.Select(s => s.Backend));

    public async Task<ProfileMeta> WriteAsync(NewProfile profile, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var withId = profile with { Id = profile.Id ?? ProfileId.New() };
        var writes = stores.Select(s => s.WriteAsync(withId, body, cancellationToken)).ToList();
        try
        {
            await Task.WhenAll(writes);
        }
        catch (StorageUnavailableException)
        {
            // Looked at per engine below.
        }

        var stored = new List<string>(stores.Count);
        ProfileMeta? meta = null;
        for (var i = 0; i < writes.Count; i++)
        {
            if (writes[i].IsCompletedSuccessfully)
            {
                meta ??= writes[i].Result;
                stored.Add(stores[i].Backend);
            }
            else if (writes[i].Exception?.InnerException is not StorageUnavailableException)
            {
                await writes[i]; // a failure other than "unavailable" is a bug: let it surface
            }
        }

        if (meta is null)
            await writes[0]; // none took it: the first engine's reason
        return meta! with { StoredIn = stored };
    }

    public async Task ProbeAsync(CancellationToken cancellationToken) =>
        await Task.WhenAll(stores.Select(s => s.ProbeAsync(cancellationToken)));

    public Task<IReadOnlyList<ProfileMeta>> FindAsync(ProfileQuery query, CancellationToken cancellationToken) =>
        FirstAsync(s => s.FindAsync(query, cancellationToken));

    public Task<IReadOnlyList<ProfileMeta>> GetAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken) =>
        FirstAsync(s => s.GetAsync(ids, cancellationToken));

    public async IAsyncEnumerable<byte[]> OpenAsync(IReadOnlyList<string> ids, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Bodies stream lazily, so fall back only when the first store fails before giving anything.
        for (var i = 0; ; i++)
        {
            var enumerator = stores[i].OpenAsync(ids, cancellationToken).GetAsyncEnumerator(cancellationToken);
            try
            {
                bool more;
                try
                {
                    more = await enumerator.MoveNextAsync();
                }
                catch (StorageUnavailableException) when (i + 1 < stores.Count)
                {
                    continue;
                }

                while (more)
                {
                    yield return enumerator.Current;
                    more = await enumerator.MoveNextAsync();
                }

                yield break;
            }
            finally
            {
                await enumerator.DisposeAsync();
            }
        }
    }

    public Task<IReadOnlyList<string>> ListServicesAsync(CancellationToken cancellationToken) =>
        FirstAsync(s => s.ListServicesAsync(cancellationToken));

    public Task<IReadOnlyList<ProfileLabel>> ListLabelsAsync(string service, CancellationToken cancellationToken) =>
        FirstAsync(s => s.ListLabelsAsync(service, cancellationToken));

    public Task<MergeSource> OpenMergeAsync(ProfileQuery query, int maxRawProfiles, CancellationToken cancellationToken) =>
        FirstAsync(s => s.OpenMergeAsync(query, maxRawProfiles, cancellationToken));

    public Task<IReadOnlyList<SeriesPoint>> SeriesAsync(ProfileQuery query, long resolutionNanos, CancellationToken cancellationToken) =>
        FirstAsync(s => s.SeriesAsync(query, resolutionNanos, cancellationToken));

    public Task<IReadOnlyList<LabeledSeriesPoint>> SeriesByLabelAsync(ProfileQuery query, string key, long resolutionNanos, CancellationToken cancellationToken) =>
        FirstAsync(s => s.SeriesByLabelAsync(query, key, resolutionNanos, cancellationToken));

    public async Task<int> DeleteOlderThanAsync(long cutoffUnixNanos, long aggregateCutoffUnixNanos, CancellationToken cancellationToken)
    {
        var deleted = await Task.WhenAll(stores.Select(s => s.DeleteOlderThanAsync(cutoffUnixNanos, aggregateCutoffUnixNanos, cancellationToken)));
        return deleted.Max();
    }

    private async Task<T> FirstAsync<T>(Func<IProfileStore, Task<T>> read)
    {
        for (var i = 0; ; i++)
        {
            try
            {
                return await read(stores[i]);
            }
            catch (StorageUnavailableException) when (i + 1 < stores.Count)
            {
                // The next store may serve.
            }
        }
    }
}
