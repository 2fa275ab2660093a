using System.Collections.Concurrent;
using System.Security.Cryptography;
using Hotpath.Pprof;
using Hotpath.Storage;

namespace Hotpath.Service.Ingest;

/// <summary>
/// The samples of Pyroscope pushes stored in the last <see cref="Window"/>, by the sample's own id (a UUID its
/// client sets) or, without one, by its content: a client that gave up waiting and sends the same push again
/// gets its answer without a second copy being stored, also while the first is still being stored (the retry
/// waits for it). Kept in memory, at most <see cref="Capacity"/> samples: a retry that reaches another
/// collector, or this one after a restart, is stored again.
/// </summary>
public sealed class RecentSamples(TimeProvider time)
{
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(15);

    public const int Capacity = 200_000;

    private readonly ConcurrentDictionary<string, Lazy<Task<ProfileMeta>>> _stored = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(string Key, long At)> _order = new();

    /// <summary>The key of a sample of a tenant: its client's id, else a hash of what would be stored.</summary>
    public static string Key(string tenant, string service, IReadOnlyList<ProfileLabel> labels, string sampleId, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        if (sampleId.Length > 0)
            return LabelSetKey.Encode([new ProfileLabel("tenant", tenant), new ProfileLabel("id", sampleId)]);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        // Length-prefixed, as every label-set key is: no two tenants, services or label sets hash alike.
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(LabelSetKey.Encode([new ProfileLabel("tenant", tenant), new ProfileLabel("service", service), .. labels])));
        hash.AppendData(body);
        return "sha256:" + Convert.ToHexString(hash.GetHashAndReset());
    }

    /// <summary>
    /// The stored profile of <paramref name="key"/>: stored by <paramref name="store"/> the first time, the same
    /// answer for a repeat within the window. A store that fails is forgotten, so that its retry stores.
    /// </summary>
    public async Task<ProfileMeta> StoreOnceAsync(string key, Func<Task<ProfileMeta>> store)
    {
        while (true)
        {
            var entry = new Lazy<Task<ProfileMeta>>(store);
            var existing = _stored.GetOrAdd(key, entry);
            if (ReferenceEquals(existing, entry))
            {
                _order.Enqueue((key, time.GetTimestamp()));
                Evict();
            }

            try
            {
                return await existing.Value;
            }
            catch (Exception e)
            {
                _stored.TryRemove(new KeyValuePair<string, Lazy<Task<ProfileMeta>>>(key, existing));
                // Another request's store that its client's going cancelled: this request stores the sample itself.
                if (e is not OperationCanceledException || ReferenceEquals(existing, entry))
                    throw;
            }
        }
    }

    private void Evict()
    {
        var now = time.GetTimestamp();
        while (_order.TryPeek(out var oldest) && (_order.Count > Capacity || time.GetElapsedTime(oldest.At, now) > Window))
        {
            if (_order.TryDequeue(out oldest))
                _stored.TryRemove(oldest.Key, out _);
        }
    }
}
