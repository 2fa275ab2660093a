using System.Text.Json;
using Hotpath.Testing;
using Microsoft.Playwright;

namespace Hotpath.Browser.Tests;

/// <summary>
/// What the .NET agent's wall and block profiles show in headless Chromium, from HotApp profiled in process with
/// every kind: its requests' spans as a group-by, the blocking call at the top, the thread pool's labels.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class AgentViewsTests(BrowserFixture fixture)
{
    private static async Task<JsonElement> EvalAsync(IPage page, string script) => await page.EvaluateAsync<JsonElement>(script);

    [Fact]
    public async Task The_wall_profile_grouped_by_span_name_puts_hotapps_blocked_requests_under_their_span()
    {
        var page = await fixture.OpenAsync("/?service=hotapp&type=wall&range=1h");

        await page.Locator("#group-by").SelectOptionAsync("span_name");
        await BrowserFixture.WaitReadyAsync(page);
        var roots = await EvalAsync(page, "() => { const has = (n, f) => n.n === f || (n.c || []).some(c => has(c, f)); return window.hotpath.flame.root.c.map(c => ({ n: c.n, v: c.v, fetch: has(c, 'HotApp.Requests.FetchBlocking') })); }");
        await BrowserFixture.ScreenshotAsync(page, "wall-spans");

        var request = roots.EnumerateArray().Single(r => r.GetProperty("n").GetString() == "span_name=GET /orders/{id}");
        Assert.True(request.GetProperty("fetch").GetBoolean(), roots.ToString());
        Assert.Contains("group_by=span_name", page.Url);
    }

    [Fact]
    public async Task The_block_profile_tops_hotapps_own_blocking_with_the_sync_over_async_call()
    {
        var page = await fixture.OpenAsync("/?service=hotapp&type=block&range=1h&sample_type=delay");
        await BrowserFixture.ScreenshotAsync(page, "block");

        using var reply = await fixture.Collector.GetAsync("/api/0/ui/profile?service=hotapp&type=block&from=now-1h&to=now&sample_type=delay");
        var body = (await CollectorInstance.ReadEnvelopeAsync(reply)).GetProperty("body");
        var keys = body.GetProperty("sample_labels").EnumerateArray().Select(k => k.GetProperty("key").GetString()).ToList();
        Assert.Contains("span_name", keys);
        Assert.Contains("threadpool_workers", keys);
        var fetch = await EvalAsync(page, "() => { let best = null; const walk = n => { if (n.n === 'HotApp.Requests.FetchBlocking') best = Math.max(best ?? 0, n.v); (n.c || []).forEach(walk); }; walk(window.hotpath.flame.root); return best; }");
        var hotApp = await EvalAsync(page, "() => { let best = 0; const walk = n => { if (n.n.startsWith('HotApp.') && !n.n.includes('Requests')) best = Math.max(best, n.v); (n.c || []).forEach(walk); }; walk(window.hotpath.flame.root); return best; }");
        Assert.True(fetch.GetInt64() > hotApp.GetInt64(), $"FetchBlocking {fetch}, HotApp's other blocking {hotApp}");
    }

    [Fact]
    public async Task The_block_profile_grouped_by_the_thread_pools_last_adjustment_shows_why_the_pool_grew()
    {
        var page = await fixture.OpenAsync("/?service=hotapp&type=block&range=1h&sample_type=delay");

        await page.Locator("#group-by").SelectOptionAsync("threadpool_adjustment");
        await BrowserFixture.WaitReadyAsync(page);
        var roots = await EvalAsync(page, "() => window.hotpath.flame.root.c.map(c => c.n)");
        await BrowserFixture.ScreenshotAsync(page, "block-threadpool");

        // HotApp's requests block pool threads in .Result: the pool adds threads for them (cooperative blocking).
        var names = roots.EnumerateArray().Select(r => r.GetString()!).ToList();
        Assert.Contains("threadpool_adjustment=cooperative_blocking", names);
        Assert.All(names, n => Assert.StartsWith("threadpool_adjustment=", n));
    }
}
