using Hotpath.Agent.EventPipe;

namespace Hotpath.Agent.Tests;

public sealed class ThreadSamplesTests
{
    [Fact]
    public void Every_sample_comes_back_in_order_with_its_thread_and_the_ticks_since_that_threads_previous_one()
    {
        using var samples = new ThreadSamples(keepWaiting: true);
        // Two threads, 5,000 samples each: more than two of the chunks they are kept in.
        for (var i = 0; i < 5_000; i++)
        {
            samples.Add(threadId: 1_000_001, time: 10 * i, stack: i % 7, managed: true);
            samples.Add(threadId: 42, time: 10 * i + 3, stack: 100 + i % 5, managed: true);
        }

        var all = samples.All().ToList();

        Assert.Equal(10_000, all.Count);
        Assert.Equal(new ThreadSamples.Sample(0, 1_000_001, 0, -1, false), all[0]);
        Assert.Equal(new ThreadSamples.Sample(100, 42, 3, -1, false), all[1]);
        Assert.Equal(new ThreadSamples.Sample(4_999 % 7, 1_000_001, 49_990, 10, false), all[^2]);
        Assert.Equal(new ThreadSamples.Sample(100 + 4_999 % 5, 42, 49_993, 10, false), all[^1]);
        Assert.All(all.Skip(2), s => Assert.Equal(10, s.Interval));
    }

    [Fact]
    public void A_thread_outside_managed_code_or_reported_running_at_the_stack_it_waited_at_is_waiting()
    {
        using var samples = new ThreadSamples(keepWaiting: true);
        samples.Add(threadId: 7, time: 0, stack: 3, managed: false);
        samples.Add(threadId: 7, time: 1, stack: 3, managed: true); // woke while the runtime was suspended
        samples.Add(threadId: 7, time: 2, stack: 4, managed: true);
        samples.Add(threadId: 7, time: 3, stack: 4, managed: true);

        Assert.Equal([true, true, false, false], samples.All().Select(s => s.Waiting));
    }

    [Fact]
    public void Without_wall_time_only_the_samples_of_threads_running_managed_code_are_kept_and_none_without_a_stack()
    {
        using var samples = new ThreadSamples(keepWaiting: false);
        samples.Add(threadId: 7, time: 0, stack: 3, managed: false);
        samples.Add(threadId: 7, time: 5, stack: 4, managed: true);
        samples.Add(threadId: 7, time: 9, stack: -1, managed: true);
        samples.Add(threadId: 7, time: 12, stack: 4, managed: true);

        // The intervals still run from each sample of the thread, kept or not.
        Assert.Equal([new ThreadSamples.Sample(4, 7, 5, 5, false), new ThreadSamples.Sample(4, 7, 12, 3, false)], samples.All());
    }

    [Fact]
    public void An_interval_past_ints_range_is_clamped_not_wrapped()
    {
        using var samples = new ThreadSamples(keepWaiting: true);
        samples.Add(threadId: 7, time: 0, stack: 1, managed: true);
        samples.Add(threadId: 7, time: 5L * int.MaxValue, stack: 1, managed: true);

        Assert.Equal(int.MaxValue, samples.All().Last().Interval);
    }
}
