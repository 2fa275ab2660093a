
namespace Hotpath.Storage.Tests;

/// <summary>The one write pipeline of the batching engines: batches, pipelining, back-pressure, failures.</summary>
public sealed class GroupCommitTests
{
    private sealed class GatedCommitter : IBatchCommitter<string>
    {
        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<List<string>> Prepared { get; } = [];

        public List<List<string>> Committed { get; } = [];

        public string? FailOn { get; set; }

        public object? Prepare(IReadOnlyList<string> batch)
        {
            lock (Prepared)
                Prepared.Add([.. batch]);
            return batch.Count;
        }

        public async Task CommitAsync(IReadOnlyList<string> batch, object? prepared)
        {
            Assert.Equal(batch.Count, (int)prepared!);
            await Gate.Task;
            if (FailOn is { } failing && batch.Contains(failing))
                throw new InvalidOperationException("disk full");
            lock (Committed)
                Committed.Add([.. batch]);
        }
    }

    [Fact]
    public async Task A_full_queue_is_refused_at_once_with_a_retryable_unavailable_and_nothing_waiting_is_lost()
    {
        var committer = new GatedCommitter();
        await using var commits = new GroupCommit<string>("test", maxPending: 2, maxBatch: 1, committer);
        var first = commits.CommitAsync("w0");
        await Eventually(() => committer.Prepared.Count == 1); // w0 commits, held at the gate
        var second = commits.CommitAsync("w1");
        await Eventually(() => committer.Prepared.Count == 2); // w1 is prepared, waiting for w0
        var queued = new[] { commits.CommitAsync("w2"), commits.CommitAsync("w3") }; // the queue's two places

        var refused = await Assert.ThrowsAsync<StorageUnavailableException>(() => commits.CommitAsync("w4"));

        Assert.Contains("2 writes are already waiting for the test store (its write queue is full); retry shortly", refused.Message);
        committer.Gate.SetResult();
        await Task.WhenAll([first, second, .. queued]);
        Assert.Equal(["w0", "w1", "w2", "w3"], committer.Committed.SelectMany(b => b));
    }

    [Fact]
    public async Task Writes_that_arrive_while_a_batch_commits_form_the_next_batch_together()
    {
        var committer = new GatedCommitter();
        await using var commits = new GroupCommit<string>("test", maxPending: 16, maxBatch: 16, committer);
        var first = commits.CommitAsync("a");
        await Eventually(() => committer.Prepared.Count == 1);
        var later = new[] { commits.CommitAsync("b"), commits.CommitAsync("c"), commits.CommitAsync("d") };

        committer.Gate.SetResult();
        await Task.WhenAll([first, .. later]);

        Assert.Equal([["a"], ["b", "c", "d"]], committer.Committed);
    }

    [Fact]
    public async Task A_failed_commit_fails_exactly_the_writes_of_its_batch()
    {
        var committer = new GatedCommitter { FailOn = "bad" };
        await using var commits = new GroupCommit<string>("test", maxPending: 16, maxBatch: 1, committer);
        var good = commits.CommitAsync("good");
        var bad = commits.CommitAsync("bad");
        var after = commits.CommitAsync("after");
        committer.Gate.SetResult();

        await good;
        var failure = await Assert.ThrowsAsync<StorageUnavailableException>(() => bad);
        await after;
        Assert.Equal("test", failure.Backend);
        Assert.IsType<InvalidOperationException>(failure.InnerException);
    }

    [Fact]
    public async Task After_dispose_writes_are_refused_as_shutting_down()
    {
        var committer = new GatedCommitter();
        committer.Gate.SetResult();
        var commits = new GroupCommit<string>("test", maxPending: 4, maxBatch: 4, committer);
        await commits.CommitAsync("w");
        await commits.DisposeAsync();

        var refused = await Assert.ThrowsAsync<StorageUnavailableException>(() => commits.CommitAsync("late"));

        Assert.Contains("shutting down", refused.Message);
    }

    private static Task Eventually(Func<bool> condition) =>
        Hotpath.Testing.Eventually.TrueAsync(condition, TimeSpan.FromSeconds(10), "the write loop never got there");
}
