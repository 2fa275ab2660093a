using System.Text.Json;
using Hotpath.Testing;
using Microsoft.Playwright;

namespace Hotpath.Browser.Tests;

/// <summary>The web UI in headless Chromium against a real collector holding the real test profiles.</summary>
[Collection(BrowserCollection.Name)]
public sealed class WebUiTests(BrowserFixture fixture)
{
    private static readonly string Shop = $"/?service=shop&type=cpu&{BrowserFixture.Window}";

    private sealed record Frame(string Name, double X, double Y, double W, double H, bool Highlighted, long Total);

    private static async Task<List<Frame>> FramesAsync(IPage page)
    {
        var json = await page.EvaluateAsync<JsonElement>("() => window.hotpath.flame.frames()");
        return [.. json.EnumerateArray().Select(f => new Frame(f.GetProperty("name").GetString()!, f.GetProperty("x").GetDouble(), f.GetProperty("y").GetDouble(),
            f.GetProperty("w").GetDouble(), f.GetProperty("h").GetDouble(), f.GetProperty("highlighted").GetBoolean(), f.GetProperty("total").GetInt64()))];
    }

    private static async Task<List<string>> ColumnAsync(IPage page, int column) =>
        [.. await page.Locator($"#top tbody tr td:nth-child({column})").AllTextContentsAsync()];

    [Fact]
    public async Task A_selection_shows_the_merged_flame_graph_and_top_table_with_the_hottest_function_first()
    {
        var page = await fixture.OpenAsync(Shop);

        var frames = await FramesAsync(page);
        Assert.Contains(frames, f => f.Name == "crypto/sha256.block");
        Assert.Equal("root", frames[0].Name);
        Assert.Equal("crypto/sha256.block", (await ColumnAsync(page, 1))[0]);
        // The function's source file, from the profile, on hover.
        Assert.EndsWith("src/crypto/sha256/sha256block_amd64.s", await page.Locator("#top tbody tr td").First.GetAttributeAsync("title"));
        Assert.Contains("3 profiles merged: 13.4s of cpu", await page.Locator("#message").TextContentAsync());
        Assert.Equal("shop", await page.Locator("#service").InputValueAsync());
        Assert.Contains("version=1.4", await page.Locator("#label-add").InnerHTMLAsync());
        await BrowserFixture.ScreenshotAsync(page, "flame-graph");
        await page.CloseAsync();
    }

    [Fact]
    public async Task Picking_a_service_type_and_preset_in_the_controls_loads_that_selection()
    {
        var page = await fixture.OpenAsync("/");

        await page.Locator("#service").SelectOptionAsync("shop");
        await BrowserFixture.WaitReadyAsync(page);
        await page.Locator("#type").SelectOptionAsync("heap");
        await BrowserFixture.WaitReadyAsync(page);
        await page.Locator("#preset").SelectOptionAsync("24h");
        await BrowserFixture.WaitReadyAsync(page);

        Assert.Contains("1 profiles merged", await page.Locator("#message").TextContentAsync());
        Assert.Contains("inuse_space", await page.Locator("#sample-type").InputValueAsync());
        Assert.Contains("type=heap", page.Url);
        Assert.Contains("range=24h", page.Url);
        // The types offered are the collector's own list, served, not one the page keeps.
        using var served = await fixture.Collector.GetAsync("/api/0/ui/types");
        var types = (await CollectorInstance.ReadEnvelopeAsync(served)).GetProperty("body").EnumerateArray().Select(t => t.GetString()!).ToList();
        Assert.Equal(types, await page.Locator("#type option").AllTextContentsAsync());
    }

    [Fact]
    public async Task Clicking_a_frame_zooms_into_it_and_reset_zoom_undoes_it()
    {
        var page = await fixture.OpenAsync(Shop);
        var sort = (await FramesAsync(page)).First(f => f.Name == "main.workSort");
        var canvas = await page.Locator("#flame").BoundingBoxAsync();

        await page.Mouse.ClickAsync((float)(canvas!.X + sort.X + sort.W / 2), (float)(canvas.Y + sort.Y + sort.H / 2));

        var zoomed = await FramesAsync(page);
        var focus = zoomed.First(f => f.Name == "main.workSort");
        Assert.Equal(0, focus.X, 1);
        Assert.Equal(canvas.Width, focus.W, 1);
        Assert.DoesNotContain(zoomed, f => f.Name == "crypto/sha256.block");

        await page.Locator("#reset-zoom").ClickAsync();
        Assert.Contains(await FramesAsync(page), f => f.Name == "crypto/sha256.block");
    }

    [Fact]
    public async Task Search_highlights_the_matching_frames_only()
    {
        var page = await fixture.OpenAsync(Shop);

        await page.Locator("#search").FillAsync("sha256");

        var frames = await FramesAsync(page);
        Assert.All(frames.Where(f => f.Highlighted), f => Assert.Contains("sha256", f.Name));
        Assert.Contains(frames, f => f.Highlighted && f.Name == "crypto/sha256.block");
        Assert.Contains(frames, f => !f.Highlighted);
        Assert.Matches(@"\d+ functions match", await page.Locator("#search-info").TextContentAsync());
        Assert.Contains("search=sha256", page.Url);
    }

    [Fact]
    public async Task The_top_table_sorts_by_the_clicked_column_and_filters_by_name()
    {
        var page = await fixture.OpenAsync(Shop);

        await page.Locator("#top th button", new PageLocatorOptions { HasText = "Function" }).ClickAsync();
        var ascending = await ColumnAsync(page, 1);
        await page.Locator("#top th button", new PageLocatorOptions { HasText = "Total %" }).ClickAsync();
        var byTotal = await ColumnAsync(page, 1);
        await page.Locator("#filter").FillAsync("regexp");
        var filtered = await ColumnAsync(page, 1);

        Assert.True(ascending.Count > 10);
        Assert.Equal([.. ascending.OrderBy(x => x, StringComparer.InvariantCulture)], ascending);
        Assert.Equal("main.runWorkloads.func1", byTotal[0]);
        Assert.NotEmpty(filtered);
        Assert.All(filtered, f => Assert.Contains("regexp", f, StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Clicking_a_table_row_focuses_the_flame_graph_on_that_function()
    {
        var page = await fixture.OpenAsync(Shop);

        await page.Locator("#top tbody tr", new PageLocatorOptions { HasText = "sort.pdqsort" }).First.ClickAsync();

        var frames = await FramesAsync(page);
        var widest = frames.Where(f => f.Name == "sort.pdqsort").MaxBy(f => f.W)!;
        Assert.Equal(0, widest.X, 1);
        Assert.True(widest.Highlighted);
        Assert.Equal("sort.pdqsort", await page.Locator("#search").InputValueAsync());
    }

    [Fact]
    public async Task Diff_mode_colours_by_change_and_sorts_the_table_by_change()
    {
        var baseline = $"from={ProfileBytes.Format(BrowserFixture.T0)}&to={ProfileBytes.Format(BrowserFixture.T0.AddSeconds(30))}";
        var comparison = $"cmp_from={ProfileBytes.Format(BrowserFixture.T0.AddSeconds(30))}&cmp_to={ProfileBytes.Format(BrowserFixture.T0.AddMinutes(5))}";
        var page = await fixture.OpenAsync($"/?service=shop&type=cpu&{baseline}&mode=diff&{comparison}");

        Assert.Contains("Diff of cpu: 2 baseline profiles", await page.Locator("#message").TextContentAsync());
        Assert.True(await page.Locator("#diff-mode").IsCheckedAsync());
        var changes = (await ColumnAsync(page, 4)).Select(c => Math.Abs(double.Parse(c.Replace(" pts", ""), System.Globalization.CultureInfo.InvariantCulture))).ToList();
        Assert.Equal(changes.OrderByDescending(c => c), changes);
        Assert.True(await page.Locator("#top tbody td.up").CountAsync() > 0);
        Assert.True(await page.Locator("#top tbody td.down").CountAsync() > 0);
        var colours = await page.EvaluateAsync<string[]>("() => window.hotpath.flame.rects.slice(1).map(r => window.hotpath.flame.colour(r.node))");
        Assert.Contains(colours, c => c.StartsWith("hsl(0, 75%", StringComparison.Ordinal));
        Assert.Contains(colours, c => c.StartsWith("hsl(130", StringComparison.Ordinal));
        await BrowserFixture.ScreenshotAsync(page, "diff");
    }

    [Fact]
    public async Task A_link_restores_the_whole_view()
    {
        var page = await fixture.OpenAsync($"{Shop}&labels=region%3Deu&sample_type=samples&search=sort");

        Assert.Equal("samples", await page.Locator("#sample-type").InputValueAsync());
        Assert.Equal("sort", await page.Locator("#search").InputValueAsync());
        Assert.Equal("region=eu×", await page.Locator("#label-chips .chip").TextContentAsync());
        Assert.Equal("custom", await page.Locator("#preset").InputValueAsync());
        Assert.Contains("2 profiles merged: 873 of samples", await page.Locator("#message").TextContentAsync());
        Assert.Contains(await FramesAsync(page), f => f.Highlighted && f.Name.Contains("sort", StringComparison.Ordinal));

        var link = page.Url;
        var again = await fixture.OpenAsync(new Uri(link).PathAndQuery);
        Assert.Equal(await page.Locator("#message").TextContentAsync(), await again.Locator("#message").TextContentAsync());
    }

    [Fact]
    public async Task Dragging_over_the_chart_narrows_the_range()
    {
        var page = await fixture.OpenAsync($"/?service=shop&type=cpu&from={ProfileBytes.Format(BrowserFixture.T0.AddMinutes(-10))}&to={ProfileBytes.Format(BrowserFixture.T0.AddMinutes(10))}");
        var chart = (await page.Locator("#chart").BoundingBoxAsync())!;
        async Task<float> XOf(DateTimeOffset time) => await page.EvaluateAsync<float>($"() => window.hotpath.chart.xOf({time.ToUnixTimeMilliseconds()})");

        // From T0 + 30 s to the end: only cpu_3 (T0 + 60 s).
        await page.Mouse.MoveAsync(chart.X + await XOf(BrowserFixture.T0.AddSeconds(30)), chart.Y + 20);
        await page.Mouse.DownAsync();
        await page.Mouse.MoveAsync(chart.X + chart.Width - 12, chart.Y + 20, new MouseMoveOptions { Steps = 5 });
        await page.Mouse.UpAsync();
        await BrowserFixture.WaitReadyAsync(page);

        Assert.Contains("1 profiles merged", await page.Locator("#message").TextContentAsync());
        Assert.Equal("custom", await page.Locator("#preset").InputValueAsync());
    }

    [Fact]
    public async Task An_empty_range_and_an_api_error_are_said_in_words()
    {
        var empty = await fixture.OpenAsync("/?service=shop&type=mutex&" + BrowserFixture.Window);
        var error = await fixture.OpenAsync(Shop + "&sample_type=bogus");

        Assert.StartsWith("Nothing in this range", await empty.Locator("#message").TextContentAsync());
        Assert.Contains("no sample type \"bogus\"", await error.Locator("#message.error").TextContentAsync());
    }

    [Fact]
    public async Task A_collector_without_services_says_how_to_send_one()
    {
        await using var empty = await CollectorInstance.StartAsync();

        var page = await fixture.OpenAsync("/", collector: empty);

        Assert.StartsWith("No services yet", await page.Locator("#message").TextContentAsync());
    }

    [Fact]
    public async Task Function_names_and_label_values_are_shown_as_text_never_run_as_html()
    {
        var page = await fixture.OpenAsync($"/?service=xss&type=cpu&{BrowserFixture.Window}");
        await page.Locator("#label-add").SelectOptionAsync("note=" + BrowserFixture.XssLabel);
        await BrowserFixture.WaitReadyAsync(page);
        await page.Locator("#top tbody tr").First.HoverAsync();

        Assert.Contains(BrowserFixture.XssFunction, await ColumnAsync(page, 1));
        Assert.Equal("note=" + BrowserFixture.XssLabel + "×", await page.Locator("#label-chips .chip").TextContentAsync());
        Assert.Equal(0, await page.Locator("#top img, #label-chips script, #top script").CountAsync());
        Assert.True(await page.EvaluateAsync<bool>("() => window.__xss === undefined"));
    }

    [Fact]
    public async Task A_merge_of_fifty_thousand_distinct_stacks_renders_a_bounded_number_of_frames_and_still_zooms()
    {
        var page = await fixture.OpenAsync($"/?service=big&type=cpu&{BrowserFixture.Window}");

        var frames = await FramesAsync(page);
        Assert.InRange(frames.Count, 10, 5_000);
        Assert.Contains(frames, f => f.Name == "…");
        var second = frames.Where(f => f.Y > 0).MaxBy(f => f.W)!;
        var canvas = (await page.Locator("#flame").BoundingBoxAsync())!;
        await page.Mouse.ClickAsync((float)(canvas.X + second.X + second.W / 2), (float)(canvas.Y + second.Y + second.H / 2));
        Assert.Equal(canvas.Width, (await FramesAsync(page)).First(f => f.Name == second.Name && f.Y == second.Y).W, 1);
        Assert.Equal(500, await page.Locator("#top tbody tr").CountAsync());
    }

    [Fact]
    public async Task At_phone_width_nothing_overflows_sideways_and_controls_work_by_keyboard()
    {
        var page = await fixture.OpenAsync(Shop, width: 390, height: 844);

        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth + 1"));
        await page.Locator("#search").FocusAsync();
        await page.Keyboard.TypeAsync("json");
        Assert.Contains(await FramesAsync(page), f => f.Highlighted);
        var sort = (await FramesAsync(page)).First(f => f.Name == "main.workSort");
        var canvas = (await page.Locator("#flame").BoundingBoxAsync())!;
        await page.Mouse.ClickAsync((float)(canvas.X + sort.X + sort.W / 2), (float)(canvas.Y + sort.Y + sort.H / 2));
        Assert.DoesNotContain(await FramesAsync(page), f => f.Name == "crypto/sha256.block");

        await page.Locator("#flame").FocusAsync();
        await page.Keyboard.PressAsync("Escape");

        Assert.Contains(await FramesAsync(page), f => f.Name == "crypto/sha256.block");
        Assert.Equal(sort.W, (await FramesAsync(page)).First(f => f.Name == "main.workSort").W, 1);
        await BrowserFixture.ScreenshotAsync(page, "phone");
    }
}
