using System.Collections.Concurrent;
using Hotpath.Pprof;
using Hotpath.Pprof.Proto;
using Hotpath.Storage;

namespace Hotpath.Collector.Merging;

/// <summary>
/// Reads stored profiles one at a time and folds them into one. Decoding (the costly part) runs on every
/// core a few profiles ahead, while folding stays in input order, so the output is the same on every run
/// and memory holds a bounded window of decoded profiles, whose arrays are reused.
/// </summary>
public sealed class ProfileMergeService(IProfileReader reader, ProfileDecoder decoder)
{
    private static readonly int Window = Math.Max(2, Environment.ProcessorCount * 2);

    private readonly ConcurrentBag<RawProfile> _pool = [];

    public async Task<Profile> MergeAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var merger = new ProfileMerger();
        var decoding = new Queue<Task<RawProfile>>(Window);
        try
        {
            await foreach (var body in reader.OpenAsync(ids, cancellationToken).ConfigureAwait(false))
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
        return merger.Build();
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
