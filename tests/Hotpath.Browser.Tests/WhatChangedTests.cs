using System.Text.Json;
using Hotpath.Testing;
using Microsoft.Playwright;

namespace Hotpath.Browser.Tests;

/// <summary>The "What changed" view beside the diff, in headless Chromium, on the fixture's planted regression ("checkout").</summary>
[Collection(BrowserCollection.Name)]
public sealed class WhatChangedTests(BrowserFixture fixture)
{
    private static readonly string Range =
        $"from={ProfileBytes.Format(BrowserFixture.PlantedStart)}&to={ProfileBytes.Format(BrowserFixture.PlantedStart.AddMinutes(PlantedFleet.Minutes).AddSeconds(-1))}";

    [Fact]
    public async Task A_diff_of_two_versions_ranks_the_planted_function_first_and_its_row_focuses_the_diff_on_it()
    {
        var page = await fixture.OpenAsync($"/?service=checkout&type=cpu&{Range}&labels=version%3D1.4&mode=diff&cmp_labels=version%3D1.5", height: 1000);

        Assert.True(await page.Locator("#changes-section").IsVisibleAsync());
        Assert.Matches(@"^\d+ regressions? over 1 points at 99% confidence; \d+ functions compared over 30 baseline and 30 comparison intervals of 60 s\.$",
            await page.Locator("#changes-info").TextContentAsync());
        var first = page.Locator("#changes tbody tr").First;
        Assert.Equal("regression", await first.Locator("td").Nth(0).TextContentAsync());
        Assert.Equal("up", await first.Locator("td").Nth(0).GetAttributeAsync("class"));
        Assert.Equal(BrowserFixture.Planted.Leaf, await first.Locator("td").Nth(1).TextContentAsync());
        var self = double.Parse((await first.Locator("td").Nth(2).TextContentAsync())!.Replace(" pts", ""), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(self, 7, 9);
        await BrowserFixture.ScreenshotAsync(page, "what-changed");

        await first.Locator("button.link").ClickAsync();

        Assert.Equal(BrowserFixture.Planted.Leaf, await page.Locator("#search").InputValueAsync());
        var highlighted = await page.EvaluateAsync<JsonElement>("() => window.hotpath.flame.frames().filter(f => f.highlighted).map(f => f.name)");
        Assert.NotEqual(0, highlighted.GetArrayLength());
        Assert.All(highlighted.EnumerateArray(), name => Assert.Equal(BrowserFixture.Planted.Leaf, name.GetString()));
        Assert.Contains("search=", page.Url);
    }

    [Fact]
    public async Task A_diff_too_short_to_tell_says_why_beside_the_diff_it_still_shows()
    {
        var baseline = $"from={ProfileBytes.Format(BrowserFixture.T0)}&to={ProfileBytes.Format(BrowserFixture.T0.AddSeconds(30))}";
        var comparison = $"cmp_from={ProfileBytes.Format(BrowserFixture.T0.AddSeconds(30))}&cmp_to={ProfileBytes.Format(BrowserFixture.T0.AddMinutes(5))}";

        var page = await fixture.OpenAsync($"/?service=shop&type=cpu&{baseline}&mode=diff&{comparison}");

        Assert.Contains("Diff of cpu: 2 baseline profiles", await page.Locator("#message").TextContentAsync());
        Assert.Contains("a comparison needs two on each side to tell a change from noise", await page.Locator("#changes-info").TextContentAsync());
        Assert.Equal(0, await page.Locator("#changes tbody tr").CountAsync());
    }

    [Fact]
    public async Task Without_a_diff_there_is_no_what_changed()
    {
        var page = await fixture.OpenAsync($"/?service=checkout&type=cpu&{Range}");

        Assert.False(await page.Locator("#changes-section").IsVisibleAsync());
    }
}
