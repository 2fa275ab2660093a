using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Testing;

namespace Hotpath.Agent.Tests;

/// <summary>
/// Block profiles of a real .NET process from outside it (the path of <c>hotpath agent --pid</c>): HotApp keeps
/// four requests blocked on <c>.Result</c> on the thread pool and measures that time itself.
/// </summary>
[Trait(TestCategory.Trait, TestCategory.Sampling)]
[Collection("sampling")]
public sealed class BlockProfileTests
{
    [Fact]
    public async Task The_block_profile_names_the_sync_over_async_call_with_the_delay_hotapp_measures_blocked_there()
    {
        await using var hotApp = HotAppProcess.Start(seconds: 10);
        await Task.Delay(TimeSpan.FromSeconds(3)); // the pool grows to the blocked requests

        var recorded = await ProfileSession.RecordAsync(hotApp.Id, ProfileKinds.Block, TimeSpan.FromSeconds(4), CancellationToken.None);
        var last = await hotApp.WaitForExitAsync();

        var profile = Assert.Single(recorded, r => r.Type == ProfileType.Block).Profile;
        var measured = HotAppExpectations.MeasuredBlockedThreads(last);
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
