using System.Threading.Channels;

namespace Hotpath.Storage;

/// <summary>What an engine does with a batch of writes, for <see cref="GroupCommit{TWrite}"/>.</summary>
public interface IBatchCommitter<TWrite>
{
    /// <summary>Encodes a batch (rows, statements) before it is committed.</summary>
    object? Prepare(IReadOnlyList<TWrite> batch);

    /// <summary>Makes the batch durable in the engine: once this returns, every write in it is acknowledged.</summary>
    Task CommitAsync(IReadOnlyList<TWrite> batch, object? prepared);
}

/// <summary>
/// The one write pipeline of every engine that writes in batches: writes wait in a bounded queue, one loop
/// takes whatever is waiting as a batch (one commit, one sync, one insert), forming the next batch while the
/// previous one commits, and completes each write when its batch is in. A full queue is refused at once with
/// <see cref="StorageUnavailableException"/> (503, retry shortly), so memory stays bounded under any load.
/// </summary>
public sealed class GroupCommit<TWrite> : IAsyncDisposable
    where TWrite : class
{
    private readonly string _backend;
    private readonly int _maxPending;
    private readonly int _maxBatch;
    private readonly IBatchCommitter<TWrite> _committer;
    private readonly Channel<Pending> _queue;
    private readonly Lock _start = new();
    private Task? _loop;
    private volatile bool _closed;

    public GroupCommit(string backend, int maxPending, int maxBatch, IBatchCommitter<TWrite> committer)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPending, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        _backend = backend;
        _maxPending = maxPending;
        _maxBatch = maxBatch;
        _committer = committer;
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(maxPending) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    }

    /// <summary>Queues the write and completes when its batch is committed.</summary>
    /// <exception cref="StorageUnavailableException">The queue is full, the commit failed, or the store is closing.</exception>
    public Task CommitAsync(TWrite write)
    {
        var pending = new Pending(write);
        if (_queue.Writer.TryWrite(pending))
        {
            // The loop starts with the first write, not with the store: a store that is never written runs nothing.
            if (Volatile.Read(ref _loop) is null)
            {
                lock (_start)
                    _loop ??= Task.Run(LoopAsync);
            }

            return pending.Done.Task;
        }

        return Task.FromException(_closed
            ? new StorageUnavailableException(_backend, $"the {_backend} store is shutting down")
            : new StorageUnavailableException(_backend, $"{_maxPending} writes are already waiting for the {_backend} store (its write queue is full); retry shortly"));
    }

    private async Task LoopAsync()
    {
        var committing = Task.CompletedTask;
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // The next batch forms while the one before commits: whatever arrives meanwhile joins it, so that
            // a batch holds every write that waited (16 connections give batches of 16, not many of a few).
            var batch = new List<Pending>(_maxBatch);
            while (true)
            {
                while (batch.Count < _maxBatch && reader.TryRead(out var next))
                    batch.Add(next);
                if (committing.IsCompleted || batch.Count >= _maxBatch)
                    break;
                var more = reader.WaitToReadAsync().AsTask();
                if (await Task.WhenAny(committing, more).ConfigureAwait(false) == more && !await more.ConfigureAwait(false))
                    break; // closed: commit what came
            }

            var writes = batch.ConvertAll(p => p.Write);
            object? prepared;
            try
            {
                prepared = _committer.Prepare(writes);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Fail(batch, e);
                continue;
            }

            await committing.ConfigureAwait(false);
            committing = CommitAsync(batch, writes, prepared);
        }

        await committing.ConfigureAwait(false);
    }

    private async Task CommitAsync(List<Pending> batch, List<TWrite> writes, object? prepared)
    {
        try
        {
            await _committer.CommitAsync(writes, prepared).ConfigureAwait(false);
            foreach (var pending in batch)
                pending.Done.TrySetResult();
        }
        catch (Exception e)
        {
            Fail(batch, e);
        }
    }

    private void Fail(List<Pending> batch, Exception e)
    {
        var failure = e as StorageUnavailableException ?? new StorageUnavailableException(_backend, $"the {_backend} store could not take the write", e);
        foreach (var pending in batch)
            pending.Done.TrySetException(failure);
    }

    /// <summary>Commits what is queued, then stops taking writes.</summary>
    public async ValueTask DisposeAsync()
    {
        _closed = true;
        _queue.Writer.TryComplete();
        Task? loop;
        lock (_start)
            loop = _loop;
        if (loop is not null)
            await loop.ConfigureAwait(false);
    }

    private sealed class Pending(TWrite write)
    {
        public TWrite Write { get; } = write;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
