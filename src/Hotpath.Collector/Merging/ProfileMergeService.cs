using Hotpath.Pprof;
using Hotpath.Pprof.Proto;
using Hotpath.Storage;

namespace Hotpath.Collector.Merging;

/// <summary>
/// Reads stored profiles one at a time and folds them into one. Decoding (the costly part) runs on every
/// core a few profiles ahead, while folding stays in input order, so the output is the same on every run
/// and memory holds a bounded window of bodies, not all of them.
/// </summary>
public sealed class ProfileMergeService(IProfileReader reader, ProfileDecoder decoder)
{
    private static readonly int Window = Math.Max(2, Environment.ProcessorCount * 2);

    public async Task<Profile> MergeAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var merger = new ProfileMerger();
        var decoding = new Queue<Task<Profile>>(Window);
        try
        {
            await foreach (var body in reader.OpenAsync(ids, cancellationToken).ConfigureAwait(false))
            {
                decoding.Enqueue(Task.Run(() => decoder.Decode(body), cancellationToken));
                if (decoding.Count >= Window)
                    merger.Add(await decoding.Dequeue().ConfigureAwait(false));
            }

            while (decoding.Count > 0)
                merger.Add(await decoding.Dequeue().ConfigureAwait(false));
        }
        finally
        {
            // On failure, let the decodes already started finish before their inputs go away.
            foreach (var pending in decoding)
                await pending.ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
        }

        if (merger.Count == 0)
            throw new InvalidOperationException("none of the profiles to merge could be read");
        return merger.Build();
    }
}
