using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Hotpath.Pprof;
using Hotpath.Pprof.Proto;
using Hotpath.Storage;

namespace Hotpath.Service.Query;

/// <summary>
/// Reads stored profiles one at a time and folds them into one. Decoding (the costly part) runs on every
/// core a few profiles ahead, while folding stays in input order, so the output is the same on every run
/// and memory holds a bounded window of decoded profiles, whose arrays are reused.
/// </summary>
/// <param name="maxProfilesPerMerge">
/// Most raw profiles a merge that must decode each reads (Collector:MaxProfilesPerMerge): one with a <c>limit</c>,
/// of ids, or averaging gauges per instance. A range merge is never refused: what no piece covers yet is decoded.
/// </param>
public sealed class MergeService(IProfileReader reader, ProfileDecoder decoder, IServiceMetrics metrics, TimeProvider time, int maxProfilesPerMerge)
{
    private static readonly int Window = Math.Max(2, Environment.ProcessorCount * 2);

    private readonly ConcurrentBag<RawProfile> _pool = [];

    /// <summary>
    /// The merge of what a find selects: <see cref="NothingFoundException"/> when nothing matches,
    /// <see cref="InvalidRequestException"/> when the profiles cannot be merged, or when a <c>limit</c> asks for more
    /// than MaxProfilesPerMerge raw profiles. Without a limit the store answers with its pre-merged pieces and the
    /// raw profiles no piece covers yet (right after a burst of writes, an import, a restart), all of them, decoded
    /// a window at a time on every core: a range is never refused.
    /// </summary>
    /// <remarks>
    /// With <see cref="Aggregation.Average"/>, a merge whose sample types include gauges is done again per
    /// instance, so that each instance's gauges are divided by its own number of snapshots: from the pieces of its
    /// label sets where no other instance shares them, else from its raw profiles (those count against the cap).
    /// </remarks>
    public async Task<(Profile Merged, int Count)> MergeSelectionAsync(ProfileQuery query, Aggregation aggregation, CancellationToken cancellationToken)
    {
        if (aggregation == Aggregation.Sum)
            return await MergeSelectionAsync(query, cancellationToken).ConfigureAwait(false);
        if (query.Limit > 0)
        {
            // The newest N: the sum's cap and its refusal first, as for a sum.
            var (merged, count) = await MergeSelectionAsync(query, cancellationToken).ConfigureAwait(false);
            if (!Array.Exists(Aggregations.GaugeColumns(merged), gauge => gauge))
                return (merged, count);
            return (await AverageAsync(query, await reader.FindAsync(query, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false), count);
        }

        // Whether the type has gauges, from its newest profile rather than from a whole merge first (which, right
        // after a burst, decoded every snapshot not in a piece yet only to look at its sample types). Nothing raw
        // left (pieces past raw retention) or no gauges: the sum.
        var found = await reader.FindAsync(query, cancellationToken).ConfigureAwait(false);
        if (found.Count == 0 || !await HasGaugesAsync(found[^1].Id, cancellationToken).ConfigureAwait(false))
            return await MergeSelectionAsync(query, cancellationToken).ConfigureAwait(false);
        return (await AverageAsync(query, found, cancellationToken).ConfigureAwait(false), found.Count);
    }

    private async Task<bool> HasGaugesAsync(string id, CancellationToken cancellationToken)
    {
        await foreach (var body in reader.OpenAsync([id], cancellationToken).ConfigureAwait(false))
        {
            try
            {
                return Array.Exists(Aggregations.GaugeColumns(new ProfileDecoder().Decode(body)), gauge => gauge);
            }
            catch (Exception e) when (e is MalformedProfileException or ProfileTooLargeException)
            {
                return false; // the sum says what is wrong with it
            }
        }

        return false;
    }

    /// <summary>
    /// Each instance's gauges divided by its own number of snapshots, then every instance summed. An instance whose
    /// label sets are its own (no other instance writes them: an agent's labels name its host or pod) is merged from
    /// its sets' pre-merged pieces, like a sum; the others from their raw profiles, which count against the cap.
    /// </summary>
    private async Task<Profile> AverageAsync(ProfileQuery query, IReadOnlyList<ProfileMeta> found, CancellationToken cancellationToken)
    {
        var keyed = found.Select(m => (Meta: m, Set: LabelSetKey.Encode(m.Labels))).ToList();
        var shared = keyed.GroupBy(k => k.Set, StringComparer.Ordinal)
            .Where(set => set.Select(k => k.Meta.InstanceId).Distinct(StringComparer.Ordinal).Skip(1).Any())
            .Select(set => set.Key).ToHashSet(StringComparer.Ordinal);
        // With a limit, only the newest profiles count: those are read raw.
        var instances = keyed.GroupBy(k => k.Meta.InstanceId, StringComparer.Ordinal)
            .Select(instance => (Profiles: instance.ToList(), Own: query.Limit == 0 && instance.All(k => !shared.Contains(k.Set))))
            .ToList();
        var raw = instances.Where(i => !i.Own).Sum(i => i.Profiles.Count);
        if (raw > maxProfilesPerMerge)
        {
            throw new InvalidRequestException(
                $"more than {maxProfilesPerMerge} profiles match whose instances share label sets, the most one merge reads (Collector:MaxProfilesPerMerge), and aggregation=avg reads each of those; narrow the time range or labels, give each instance a label of its own, or pass aggregation=sum");
        }

        return await MeasuredAsync(async () =>
        {
            var total = new ProfileMerger();
            // A few instances at once (each merge waits on its store as much as it decodes), added in order, each
            // instance's merger scaled as it is added (no profile built and encoded again per instance).
            foreach (var chunk in instances.Chunk(Window))
            {
                // An instance's snapshots as its merge counted them: profiles that landed after the find (a journal
                // shipping them) are in its pieces, so they are in its count too.
                var counts = chunk.Select(instance => new StrongBox<int>(instance.Own ? 0 : instance.Profiles.Count)).ToArray();
                var merged = await Task.WhenAll(chunk.Select((instance, i) => MergeIntoAsync(instance.Own
                        ? SetBodiesAsync(query, instance.Profiles.DistinctBy(k => k.Set, StringComparer.Ordinal).Select(k => k.Meta.Labels), counts[i], cancellationToken)
                        : reader.OpenAsync([.. instance.Profiles.Select(k => k.Meta.Id)], cancellationToken), cancellationToken))).ConfigureAwait(false);
                for (var i = 0; i < chunk.Length; i++)
                    total.Add(merged[i], [.. Aggregations.GaugeColumns(merged[i].SampleTypeNames).Select(gauge => gauge ? 1.0 / counts[i].Value : 1.0)]);
            }

            return total.Build();
        }, found.Count).ConfigureAwait(false);
    }

    /// <summary>
    /// The bodies of the merges of an instance's own label sets over the range (their pieces where built), adding to
    /// <paramref name="profiles"/> how many profiles they hold.
    /// </summary>
    private async IAsyncEnumerable<byte[]> SetBodiesAsync(ProfileQuery query, IEnumerable<IReadOnlyList<ProfileLabel>> sets, StrongBox<int> profiles,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var labels in sets)
        {
            var source = await reader.OpenMergeAsync(query with { Labels = [], Filter = new ExactLabelSet(labels) }, int.MaxValue, cancellationToken)
                .ConfigureAwait(false);
            profiles.Value += source.Profiles;
            await foreach (var body in source.Bodies.WithCancellation(cancellationToken).ConfigureAwait(false))
                yield return body;
        }
    }

    /// <summary>The merge of what a find selects, every value summed (Go's semantics, the profefe API's).</summary>
    public async Task<(Profile Merged, int Count)> MergeSelectionAsync(ProfileQuery query, CancellationToken cancellationToken)
    {
        var max = maxProfilesPerMerge;
        var source = query.Limit > 0
            ? await MergeSource.FromFindAsync(reader, query, max, cancellationToken).ConfigureAwait(false)
            : await reader.OpenMergeAsync(query, int.MaxValue, cancellationToken).ConfigureAwait(false);
        if (source.Profiles == 0)
            throw new NothingFoundException();
        if (query.Limit > 0 && source.RawProfiles > max)
        {
            throw new InvalidRequestException(
                $"limit={query.Limit} asks for more than {max} profiles, the most a merge that decodes each reads (Collector:MaxProfilesPerMerge); pass a smaller limit, or none to merge the whole range from pre-merged pieces");
        }

        return (await MeasuredAsync(() => MergeAsync(source.Bodies, cancellationToken), source.Profiles).ConfigureAwait(false), source.Profiles);
    }

    /// <summary>The sum merge of what a find selects (<see cref="MergeSelectionAsync(ProfileQuery, CancellationToken)"/>), or null when nothing matches.</summary>
    public async Task<(Profile Merged, int Count)?> TryMergeSelectionAsync(ProfileQuery query, CancellationToken cancellationToken)
    {
        try
        {
            return await MergeSelectionAsync(query, cancellationToken).ConfigureAwait(false);
        }
        catch (NothingFoundException)
        {
            return null;
        }
    }

    /// <summary>Merges the ids, recording the merge metrics; incompatible profiles are an invalid request.</summary>
    public Task<Profile> MergeMeasuredAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken) =>
        MeasuredAsync(() => MergeAsync(reader.OpenAsync(ids, cancellationToken), cancellationToken), ids.Count);

    /// <summary>Runs a merge, recording the merge metrics; incompatible profiles are an invalid request.</summary>
    private async Task<Profile> MeasuredAsync(Func<Task<Profile>> merge, int profiles)
    {
        var started = time.GetTimestamp();
        try
        {
            var merged = await merge().ConfigureAwait(false);
            metrics.Merged(time.GetElapsedTime(started), profiles);
            return merged;
        }
        catch (IncompatibleProfilesException e)
        {
            throw new InvalidRequestException("profiles cannot be merged: " + e.Message);
        }
    }

    /// <summary>Folds the bodies, in order, into one profile.</summary>
    public async Task<Profile> MergeAsync(IAsyncEnumerable<byte[]> bodies, CancellationToken cancellationToken) =>
        (await MergeIntoAsync(bodies, cancellationToken).ConfigureAwait(false)).Build();

    /// <summary>Folds the bodies, in order, into a merger (at least one of them read).</summary>
    private async Task<ProfileMerger> MergeIntoAsync(IAsyncEnumerable<byte[]> bodies, CancellationToken cancellationToken)
    {
        var merger = new ProfileMerger();
        var decoding = new Queue<Task<RawProfile>>(Window);
        try
        {
            await foreach (var body in bodies.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                decoding.Enqueue(Task.Run(() => Decode(body), cancellationToken));
                if (decoding.Count >= Window)
                    Fold(merger, await decoding.Dequeue().ConfigureAwait(false));
            }

            while (decoding.Count > 0)
                Fold(merger, await decoding.Dequeue().ConfigureAwait(false));
        }
        finally
        {
            // On failure, wait for the decodes already started, and take their buffers back.
            while (decoding.TryDequeue(out var pending))
            {
                try
                {
                    Return(await pending.ConfigureAwait(false));
                }
                catch (Exception)
                {
                    // The first failure is already on its way up.
                }
            }
        }

        if (merger.Count == 0)
            throw new InvalidOperationException("none of the profiles to merge could be read");
        return merger;
    }

    private RawProfile Decode(byte[] body)
    {
        var raw = _pool.TryTake(out var pooled) ? pooled : new RawProfile();
        try
        {
            decoder.Load(body, raw);
            return raw;
        }
        catch
        {
            Return(raw);
            throw;
        }
    }

    private void Fold(ProfileMerger merger, RawProfile raw)
    {
        try
        {
            merger.Add(raw);
        }
        finally
        {
            Return(raw);
        }
    }

    private void Return(RawProfile raw)
    {
        ProfileDecoder.Release(raw);
        if (_pool.Count < Window * 2)
            _pool.Add(raw);
    }
}
