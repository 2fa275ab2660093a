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
}
