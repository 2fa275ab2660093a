using System.Net.Http.Headers;
using Hotpath.Pprof;
using Hotpath.Testing;
using Microsoft.Playwright;

namespace Hotpath.Browser.Tests;

/// <summary>The UI's tenant (X-Scope-OrgID on each of its requests) and its label selector, in headless Chromium.</summary>
[Collection(BrowserCollection.Name)]
public sealed class TenantAndSelectorTests(BrowserFixture fixture)
{
    private static async Task<string> MessageAsync(IPage page) => (await page.Locator("#message").TextContentAsync())!;

    [Fact]
    public async Task A_selector_with_negation_and_a_regex_narrows_the_view_and_stays_in_the_link()
    {
        var page = await fixture.OpenAsync($"/?service=shop&type=cpu&{BrowserFixture.Window}");
        Assert.StartsWith("3 profiles merged", await MessageAsync(page));

        await page.Locator("#query").FillAsync("{version!=\"1.5\", region=~\"e.\"}");
        await page.Locator("#show").ClickAsync();
        await BrowserFixture.WaitReadyAsync(page);

        Assert.StartsWith("2 profiles merged", await MessageAsync(page));
        Assert.Contains("query=%7Bversion%21%3D%221.5%22", page.Url, StringComparison.Ordinal);
        var reopened = await fixture.OpenAsync(new Uri(page.Url).PathAndQuery);
        Assert.StartsWith("2 profiles merged", await MessageAsync(reopened));
        Assert.Equal("{version!=\"1.5\", region=~\"e.\"}", await reopened.Locator("#query").InputValueAsync());
    }

    [Fact]
    public async Task A_tenant_in_the_link_shows_that_tenants_services_only_and_its_download_is_that_tenants_merge()
    {
        using (var acme = new HttpClient { BaseAddress = fixture.Collector.BaseAddress })
        {
            acme.DefaultRequestHeaders.Add("X-Scope-OrgID", "acme");
            using var posted = await acme.PostAsync("/api/0/profiles?service=acme-shop&type=cpu",
                new ByteArrayContent(ProfileBytes.WithTime("cpu_3.pb.gz", BrowserFixture.T0)) { Headers = { ContentType = new MediaTypeHeaderValue("application/octet-stream") } });
            posted.EnsureSuccessStatusCode();
        }

        var page = await fixture.OpenAsync($"/?tenant=acme&type=cpu&{BrowserFixture.Window}");

        Assert.Equal(["acme-shop"], await page.Locator("#service option").AllTextContentsAsync());
        Assert.StartsWith("1 profiles merged", await MessageAsync(page));
        Assert.Equal("acme", await page.Locator("#tenant").InputValueAsync());
        var download = await page.RunAndWaitForDownloadAsync(() => page.Locator("#download").ClickAsync());
        var saved = await download.PathAsync();
        Assert.Equal("acme-shop-cpu.pb.gz", download.SuggestedFilename);
        Assert.Equal(TestData.Totals["cpu_3.pb.gz"], new ProfileDecoder().Decode(await File.ReadAllBytesAsync(saved)).Totals());

        // Back to the default tenant: its services, none of acme's.
        await page.Locator("#tenant").FillAsync("");
        // Waiting from before the key: a navigation that commits before a wait begins is not seen by it.
        var navigated = page.WaitForURLAsync(url => !url.Contains("tenant=", StringComparison.Ordinal));
        await page.Locator("#tenant").PressAsync("Enter");
        await navigated;
        await BrowserFixture.WaitReadyAsync(page);
        Assert.DoesNotContain("acme-shop", await page.Locator("#service option").AllTextContentsAsync());
        Assert.Contains("shop", await page.Locator("#service option").AllTextContentsAsync());
    }
}
