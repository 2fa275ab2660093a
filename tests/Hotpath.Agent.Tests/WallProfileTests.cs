using Hotpath.Pprof.Analysis;
using Hotpath.Testing;

namespace Hotpath.Agent.Tests;

/// <summary>
/// Wall-clock profiles of a real .NET process from outside it (the path of <c>hotpath agent --pid</c>): HotApp
/// keeps four requests blocked on <c>.Result</c> on the thread pool and measures that time itself. Alone on the
/// machine, as the other share tests are.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Sampling)]
[Collection("sampling")]
public sealed class WallProfileTests
{
    [Fact]
    public async Task The_sync_over_async_call_site_tops_hotapps_waiting_time_with_the_threads_hotapp_measures_blocked_there()
    {
        await using var hotApp = HotAppProcess.Start(seconds: 12);
        await Task.Delay(TimeSpan.FromSeconds(3)); // the pool grows to the blocked requests

        var recorded = await ProfileSession.RecordAsync(hotApp.Id, ProfileKinds.Wall, TimeSpan.FromSeconds(4), CancellationToken.None);
        var last = await hotApp.WaitForExitAsync();

        var profile = Assert.Single(recorded).Profile;
        var measured = HotAppExpectations.MeasuredBlockedThreads(last);
        var all = TopTable.Build(profile, 1);
        var waiting = TopTable.Build(new SampleSelection([KeyValuePair.Create("state", "waiting")], null).Apply(profile), 1);
        var fetch = all.Rows.Single(r => r.Function == "HotApp.Requests.FetchBlocking");
        var fetchWaiting = waiting.Rows.Single(r => r.Function == "HotApp.Requests.FetchBlocking");
        var threads = (double)fetch.Cumulative / profile.DurationNanos;
        var summary = $"HotApp measured {measured:0.00} threads blocked, the wall profile {threads:0.00} ({100.0 * fetchWaiting.Cumulative / fetch.Cumulative:0}% waiting); "
            + string.Join(", ", waiting.Rows.Where(r => r.Function.StartsWith("HotApp.", StringComparison.Ordinal)).Take(5).Select(r => $"{r.Function} {r.Cumulative / 1e6:0} ms"));
        // Within ten points of the four requests' time.
        Assert.True(Math.Abs(threads - measured) <= 0.1 * HotAppExpectations.RequestsInFlight, summary);
        // The call site tops HotApp's own waiting time (its request lambda, the one caller, ties with it).
        var hotAppWaits = waiting.Rows.Where(r => r.Function.StartsWith("HotApp.", StringComparison.Ordinal) && !r.Function.Contains("Requests", StringComparison.Ordinal));
        Assert.All(hotAppWaits, other => Assert.True(other.Cumulative < fetchWaiting.Cumulative, summary));
        Assert.True(fetchWaiting.Cumulative > 0.5 * fetch.Cumulative, summary);
    }
}
