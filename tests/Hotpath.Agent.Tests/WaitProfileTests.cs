using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Proto;
using Hotpath.Testing;

namespace Hotpath.Agent.Tests;

/// <summary>
/// Wall-clock and block profiles of a real .NET process from outside it (the path of <c>hotpath agent --pid</c>):
/// HotApp keeps four requests blocked on <c>.Result</c> on the thread pool and measures that time itself. Alone
/// on the machine, as the other share tests are.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Sampling)]
[Collection("sampling")]
public sealed class WaitProfileTests
{
    /// <summary>A 4 s window of HotApp once its pool has grown to the blocked requests, and the threads HotApp measured blocked.</summary>
    private static async Task<(Profile Profile, double Measured)> RecordHotAppAsync(ProfileKinds kind)
    {
        await using var hotApp = HotAppProcess.Start(seconds: 10);
        await Task.Delay(TimeSpan.FromSeconds(3));
        var recorded = await ProfileSession.RecordAsync(hotApp.Id, kind, TimeSpan.FromSeconds(4), CancellationToken.None);
        var measured = HotAppExpectations.MeasuredBlockedThreads(await hotApp.WaitForExitAsync());
        return (Assert.Single(recorded, r => r.Type == ProfileKindNames.Type(kind)).Profile, measured);
    }

    [Fact]
    public async Task The_sync_over_async_call_site_tops_hotapps_waiting_time_with_the_threads_hotapp_measures_blocked_there()
    {
        var (profile, measured) = await RecordHotAppAsync(ProfileKinds.Wall);

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

    [Fact]
    public async Task The_block_profile_names_the_sync_over_async_call_with_the_delay_hotapp_measures_blocked_there()
    {
        var (profile, measured) = await RecordHotAppAsync(ProfileKinds.Block);

        var top = TopTable.Build(profile, 1);
        var fetch = top.Rows.Single(r => r.Function == "HotApp.Requests.FetchBlocking");
        var threads = (double)fetch.Cumulative / profile.DurationNanos;
        var summary = $"HotApp measured {measured:0.00} threads blocked, the block profile {threads:0.00}; "
            + string.Join(", ", top.Rows.Take(6).Select(r => $"{r.Function} {r.Cumulative / 1e6:0} ms"));
        Assert.InRange(threads, 0.85 * measured, 1.15 * measured);
        // The call that blocked tops HotApp's own blocking (the lock's waiters are the mutex profile's).
        Assert.All(top.Rows.Where(r => r.Function.StartsWith("HotApp.", StringComparison.Ordinal) && !r.Function.Contains("Requests", StringComparison.Ordinal)),
            other => Assert.True(other.Cumulative < fetch.Cumulative, summary));
        Assert.True(fetch.Cumulative > 0, summary);
    }
}
