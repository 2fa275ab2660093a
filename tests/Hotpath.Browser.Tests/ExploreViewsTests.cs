using System.Globalization;
using System.Text.Json;
using Hotpath.Testing;
using Microsoft.Playwright;

namespace Hotpath.Browser.Tests;

/// <summary>
/// The views that answer "which one?" and "since when?" in headless Chromium: the tag explorer, sample
/// labels, the chart's axes, side by side, the sandwich, exports, and loads that overtake each other.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class ExploreViewsTests(BrowserFixture fixture)
{
    private static readonly string Shop = $"/?service=shop&type=cpu&{BrowserFixture.Window}";

    private static async Task<JsonElement> EvalAsync(IPage page, string script) => await page.EvaluateAsync<JsonElement>(script);

    private static async Task<string> MessageAsync(IPage page) => (await page.Locator("#message").TextContentAsync())!;

    private static async Task<List<(string Name, double Y, double W)>> FramesAsync(IPage page, string graph) =>
        [.. (await EvalAsync(page, $"() => window.hotpath.{graph}.frames()")).EnumerateArray()
            .Select(f => (f.GetProperty("name").GetString()!, f.GetProperty("y").GetDouble(), f.GetProperty("w").GetDouble()))];

    [Fact]
    public async Task The_explorer_ranks_the_hottest_value_first_and_a_click_filters_the_view_to_it()
    {
        var page = await fixture.OpenAsync($"{Shop}&explore=version");

        var ranked = (await EvalAsync(page, "() => window.hotpath.explorer.ranked()")).EnumerateArray().ToList();
        Assert.Equal(["1.4", "1.5"], ranked.Select(r => r.GetProperty("value").GetString()));
        Assert.Equal((3.09 + 5.64) / (3.09 + 5.64 + 4.67), ranked[0].GetProperty("share").GetDouble(), 3);
        Assert.Equal(2, await page.Locator("#explorer canvas.spark").CountAsync());
        Assert.Contains("65.15%", await page.Locator("#explorer li").First.TextContentAsync());
        await BrowserFixture.ScreenshotAsync(page, "explorer");

        await page.Locator("#explorer button.value", new PageLocatorOptions { HasText = "1.4" }).ClickAsync();
        await BrowserFixture.WaitReadyAsync(page);

        Assert.StartsWith("2 profiles merged", await MessageAsync(page));
        Assert.Contains("labels=version%3D1.4", page.Url);
        Assert.True(await page.Locator("#explorer-section").IsHiddenAsync());
    }

    [Fact]
    public async Task Two_ticked_values_of_the_explorer_open_their_diff()
    {
        var page = await fixture.OpenAsync($"{Shop}&explore=version");

        await page.Locator("#explorer input[type=checkbox]").Nth(0).CheckAsync();
        await page.Locator("#explorer input[type=checkbox]").Nth(1).CheckAsync();
        await page.Locator("#explore-diff").ClickAsync();
        await BrowserFixture.WaitReadyAsync(page);

        Assert.StartsWith("Diff of cpu: 2 baseline profiles (8.73s) against 1 (4.67s)", await MessageAsync(page));
        Assert.Contains("cmp_labels=version%3D1.5", page.Url);
    }

    [Fact]
    public async Task A_sample_label_of_the_dotnet_agent_filters_the_allocations_to_one_type_and_group_by_puts_the_types_at_the_root()
    {
        const string View = "/?service=hotapp&type=heap&range=1h&sample_type=alloc_space";
        var page = await fixture.OpenAsync(View);
        var all = (await EvalAsync(page, "() => window.hotpath.flame.root.v")).GetInt64();
        using var reply = await fixture.Collector.GetAsync("/api/0/ui/profile?service=hotapp&type=heap&from=now-1h&to=now&sample_type=alloc_space");
        var types = (await CollectorInstance.ReadEnvelopeAsync(reply)).GetProperty("body").GetProperty("sample_labels").EnumerateArray()
            .Single(k => k.GetProperty("key").GetString() == "type").GetProperty("values").EnumerateArray().ToList();
        var hottest = types[0];

        await page.Locator("#sample-label-add").SelectOptionAsync("type=" + hottest.GetProperty("v").GetString());
        await BrowserFixture.WaitReadyAsync(page);
        var filtered = (await EvalAsync(page, "() => window.hotpath.flame.root.v")).GetInt64();
        var filteredUrl = page.Url;
        await BrowserFixture.ScreenshotAsync(page, "sample-labels");
        await page.Locator("#sample-label-chips button").ClickAsync();
        await BrowserFixture.WaitReadyAsync(page);
        await page.Locator("#group-by").SelectOptionAsync("type");
        await BrowserFixture.WaitReadyAsync(page);
        var roots = await EvalAsync(page, "() => window.hotpath.flame.root.c.map(c => c.n)");

        Assert.True(types.Count > 1, "HotApp allocates objects of several types");
        Assert.Equal(hottest.GetProperty("t").GetInt64(), filtered);
        Assert.True(filtered < all, $"{filtered} of {all}");
        Assert.Contains("sample_labels=type%3D", filteredUrl);
        Assert.DoesNotContain("sample_labels", page.Url);
        Assert.All(roots.EnumerateArray(), r => Assert.StartsWith("type=", r.GetString()));
        Assert.Contains("group_by=type", page.Url);
        Assert.Contains("Grouped by type.", await MessageAsync(page));
    }

    [Fact]
    public async Task The_chart_has_a_utc_time_axis_from_start_to_end_a_value_axis_with_its_unit_and_reads_out_a_bucket()
    {
        var page = await fixture.OpenAsync(Shop);
        // A full suite on 2 cores once read out the first, empty bucket: the chart must hold the profiles first.
        Assert.True(await page.EvaluateAsync<bool>("() => window.hotpath.chart.data.buckets.some(b => b.count > 0)"), "the chart shows no profiles");

        var axis = await EvalAsync(page, "() => window.hotpath.chart.axis()");
        var chart = (await page.Locator("#chart").BoundingBoxAsync())!;
        var x = (await EvalAsync(page, "() => (() => { const d = window.hotpath.chart.data; const b = d.buckets.reduce((m, x) => x.count > m.count ? x : m); return window.hotpath.chart.xOf(b.start + d.step / 2); })()")).GetDouble();
        await page.Mouse.MoveAsync((float)(chart.X + x), chart.Y + 60);

        Assert.Equal(BrowserFixture.T0.AddMinutes(-5).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), axis.GetProperty("start").GetString());
        Assert.Equal(BrowserFixture.T0.AddMinutes(5).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " UTC", axis.GetProperty("end").GetString());
        Assert.True(axis.GetProperty("ticks").GetArrayLength() >= 3);
        Assert.All(axis.GetProperty("ticks").EnumerateArray(), t => Assert.Matches(@"^\d\d:\d\d$", t.GetString()));
        Assert.Matches(@"^[\d.]+s$", axis.GetProperty("values")[2].GetString());
        // The busiest bucket: cpu_1 and cpu_2, a second apart, or one of them when a bucket's edge falls between.
        Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:?\d* UTC – \d{4}-\d\d-\d\d \d\d:\d\d:?\d* UTC: (1 profiles, (3\.09|5\.64)s|2 profiles, 8\.73s)$", await page.Locator("#chart-readout").TextContentAsync());
        await BrowserFixture.ScreenshotAsync(page, "chart");
    }

    [Theory]
    [InlineData("2000-01-01T00:00:00", @"^\d{4}-\d\d$")]
    [InlineData(null, @"^\d{4}-\d\d-\d\d$")]
    public async Task Over_a_range_of_more_than_one_year_the_ticks_name_the_year(string? from, string tick)
    {
        // Across one new year (100 days back from the first of January after the profiles), or over decades.
        var to = new DateTimeOffset(BrowserFixture.T0.Year + 1, 1, 1, 0, 0, 0, TimeSpan.Zero).AddDays(5);
        var page = await fixture.OpenAsync($"/?service=shop&type=cpu&from={from ?? ProfileBytes.Format(to.AddDays(-100))}&to={ProfileBytes.Format(to)}");

        var ticks = (await EvalAsync(page, "() => window.hotpath.chart.axis()")).GetProperty("ticks").EnumerateArray().Select(t => t.GetString()!).ToList();

        Assert.True(ticks.Count >= 3, string.Join(", ", ticks));
        Assert.All(ticks, t => Assert.Matches(tick, t));
        Assert.Equal(ticks.Count, ticks.Distinct().Count());
    }

    [Fact]
    public async Task In_a_diff_the_chart_draws_the_baseline_and_the_comparison_range()
    {
        var page = await fixture.OpenAsync(
            $"/?service=shop&type=cpu&from={ProfileBytes.Format(BrowserFixture.T0)}&to={ProfileBytes.Format(BrowserFixture.T0.AddSeconds(30))}&mode=diff&cmp_from={ProfileBytes.Format(BrowserFixture.T0.AddSeconds(30))}&cmp_to={ProfileBytes.Format(BrowserFixture.T0.AddMinutes(5))}");

        var ranges = (await EvalAsync(page, "() => window.hotpath.chart.data.ranges")).EnumerateArray().ToList();

        Assert.Equal(["baseline", "comparison"], ranges.Select(r => r.GetProperty("kind").GetString()));
        Assert.Equal(BrowserFixture.T0.AddMinutes(5).ToUnixTimeSeconds() * 1000, ranges[1].GetProperty("to").GetInt64());
        Assert.Equal(BrowserFixture.T0.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture), (await EvalAsync(page, "() => window.hotpath.chart.axis()")).GetProperty("start").GetString());
        Assert.Contains("red: share grew", await page.Locator("#flame-legend").TextContentAsync());
    }

    [Fact]
    public async Task Side_by_side_draws_both_merges_on_one_scale()
    {
        var page = await fixture.OpenAsync(
            $"/?service=shop&type=cpu&from={ProfileBytes.Format(BrowserFixture.T0)}&to={ProfileBytes.Format(BrowserFixture.T0.AddSeconds(30))}&mode=compare&cmp_from={ProfileBytes.Format(BrowserFixture.T0.AddSeconds(30))}&cmp_to={ProfileBytes.Format(BrowserFixture.T0.AddMinutes(5))}");
        var width = (await page.Locator("#flame-baseline").BoundingBoxAsync())!.Width;

        var baseline = (await FramesAsync(page, "compare.baseline"))[0];
        var comparison = (await FramesAsync(page, "compare.comparison"))[0];

        Assert.True(await page.Locator("#side-by-side").IsCheckedAsync());
        Assert.True(await page.Locator("#flame").IsHiddenAsync());
        Assert.InRange(baseline.W, width - 1, width + 1); // the larger side takes the whole width
        Assert.Equal((3.09 + 5.64) / 4.67, baseline.W / comparison.W, 2);
        Assert.Contains(await FramesAsync(page, "compare.comparison"), f => f.Name == "regexp.(*Regexp).FindAllStringSubmatch");
        Assert.StartsWith("Side by side, one scale: 2 baseline profiles (8.73s) and 1 compared (4.67s)", await MessageAsync(page));
        await BrowserFixture.ScreenshotAsync(page, "side-by-side");
    }

    [Fact]
    public async Task The_sandwich_shows_the_known_callers_up_to_the_roots_and_the_callees_of_a_function()
    {
        var page = await fixture.OpenAsync($"{Shop}&labels=version%3D1.4");

        await page.Locator("#top tbody tr", new PageLocatorOptions { HasText = "crypto/sha256.(*digest).Write" }).First.Locator("button.sandwich").ClickAsync();
        await BrowserFixture.WaitReadyAsync(page);

        var callers = await FramesAsync(page, "sandwich.callers");
        var callees = await FramesAsync(page, "sandwich.callees");
        Assert.Equal("crypto/sha256.(*digest).Write", callers.MaxBy(f => f.Y).Name); // drawn at the bottom, its callers above
        Assert.Equal(["crypto/sha256.Sum256", "main.workHash", "main.runWorkloads.func1"], callers.OrderByDescending(f => f.Y).Skip(1).Select(f => f.Name));
        Assert.Equal(["crypto/sha256.(*digest).Write", "crypto/sha256.block"], callees.OrderBy(f => f.Y).Select(f => f.Name));
        Assert.Contains("function=crypto%2Fsha256.%28*digest%29.Write", page.Url);
        Assert.Contains("0ns self", await page.Locator("#sandwich-info").TextContentAsync());
        await page.Locator("#sandwich-section").ScrollIntoViewIfNeededAsync();
        await BrowserFixture.ScreenshotAsync(page, "sandwich");
    }

    [Fact]
    public async Task An_older_answer_that_arrives_late_never_replaces_a_newer_one()
    {
        var page = await fixture.Browser.NewPageAsync();
        var first = true;
        await page.RouteAsync("**/api/0/ui/profile?*", async route =>
        {
            if (first)
            {
                first = false;
                await Task.Delay(1500); // the first view's answer comes late
            }

            try
            {
                await route.ContinueAsync();
            }
            catch (PlaywrightException)
            {
                // the page gave up on it
            }
        });
        await page.GotoAsync(new Uri(fixture.Collector.BaseAddress, Shop).ToString());
        await page.WaitForFunctionAsync("() => document.querySelector('#service').options.length > 0");

        await page.EvaluateAsync("() => { document.querySelector('#type').value = 'heap'; document.querySelector('#type').dispatchEvent(new Event('change')); }");
        await BrowserFixture.WaitReadyAsync(page);
        await page.WaitForTimeoutAsync(2000); // past the late answer

        Assert.Contains("of inuse_space", await MessageAsync(page));
        Assert.Equal(1, (await EvalAsync(page, "() => window.hotpath.loads")).GetInt32());
        Assert.Contains("type=heap", page.Url);
    }

    [Fact]
    public async Task Times_are_shown_and_typed_as_utc_iso_and_an_empty_comparison_means_the_same_range()
    {
        var page = await fixture.OpenAsync(Shop);

        var from = BrowserFixture.T0.AddMinutes(-5);
        Assert.Equal(from.ToString(from.Second == 0 ? "yyyy-MM-dd HH:mm" : "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC", await page.Locator("#from").InputValueAsync());
        Assert.Equal("same range as the selection", await page.Locator("#cmp-from").GetAttributeAsync("placeholder"));

        await page.Locator("#from").FillAsync(BrowserFixture.T0.AddSeconds(30).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC");
        await page.Locator("#show").ClickAsync();
        await BrowserFixture.WaitReadyAsync(page);

        Assert.StartsWith("1 profiles merged", await MessageAsync(page));
        Assert.Contains("from=" + Uri.EscapeDataString(BrowserFixture.T0.AddSeconds(30).ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture)), page.Url);

        await page.Locator("#from").FillAsync("12/01/2026 7:50 AM");
        await page.Locator("#show").ClickAsync();
        Assert.Contains("is not a time: write it as 2026-12-01 07:50 (UTC)", await MessageAsync(page));
    }

    [Fact]
    public async Task The_legend_names_the_packages_the_colours_stand_for_and_the_exports_download_the_view()
    {
        var page = await fixture.OpenAsync(Shop);

        var legend = await page.Locator("#flame-legend .swatch").AllTextContentsAsync();
        var folded = await page.APIRequest.GetAsync(new Uri(fixture.Collector.BaseAddress, await page.Locator("#download-folded").GetAttributeAsync("href")).ToString());
        var speedscope = await page.APIRequest.GetAsync(new Uri(fixture.Collector.BaseAddress, await page.Locator("#download-speedscope").GetAttributeAsync("href")).ToString());

        Assert.Contains(legend, l => l.StartsWith("crypto/sha256 ", StringComparison.Ordinal));
        Assert.InRange(legend.Count, 3, 8);
        Assert.Contains(";crypto/sha256.block ", await folded.TextAsync());
        using var json = JsonDocument.Parse(await speedscope.TextAsync());
        Assert.Equal(13_400_000_000, json.RootElement.GetProperty("profiles")[0].GetProperty("weights").EnumerateArray().Sum(w => w.GetInt64()));
    }
}
