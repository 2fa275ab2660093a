using System.Diagnostics;
using Hotpath.Agent.Spans;

namespace Hotpath.Agent.Tests;

/// <summary>The span timeline on this thread, without EventPipe: what a window's lookup answers.</summary>
public sealed class SpanTimelineTests
{
    [Fact]
    public void A_thread_whose_window_list_filled_has_no_span_after_it_rather_than_one_it_was_in()
    {
        using var timeline = new SpanTimeline();
        using var orders = new Activity("GET /orders/{id}").Start();
        using var history = new Activity("GET /history").Start();
        timeline.Start();
        var early = Stopwatch.GetTimestamp();
        // Far more changes than a window keeps for a thread, every one of them into a span.
        for (var i = 0; i < 100_000; i++)
            Activity.Current = i % 2 == 0 ? orders : history;
        var late = Stopwatch.GetTimestamp();
        var lookup = timeline.Stop();

        var thread = ThreadIds.Current();
        Assert.Equal("GET /orders/{id}", lookup.At(thread, early)?.Name); // history's local root
        Assert.Null(lookup.At(thread, late));
    }

    [Fact]
    public void A_thread_that_exited_is_forgotten_by_the_next_window_so_its_id_given_to_a_new_thread_has_no_span()
    {
        using var timeline = new SpanTimeline();
        using var live = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        long exitedId = 0, liveId = 0;
        var exited = new Thread(() =>
        {
            exitedId = ThreadIds.Current();
            Activity.Current = new Activity("GET /gone").Start(); // left current as the thread ends
        });
        exited.Start();
        exited.Join();
        var running = new Thread(() =>
        {
            liveId = ThreadIds.Current();
            using var span = new Activity("GET /live").Start();
            live.Set();
            release.Wait(TimeSpan.FromSeconds(30));
        });
        running.Start();
        Assert.True(live.Wait(TimeSpan.FromSeconds(30)));

        timeline.Start();
        var now = Stopwatch.GetTimestamp();
        var lookup = timeline.Stop();
        release.Set();
        running.Join();

        Assert.Null(lookup.At(exitedId, now));
        Assert.Equal("GET /live", lookup.At(liveId, now)?.Name);
    }
}
