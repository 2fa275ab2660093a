using Google.Protobuf;
using Hotpath.Pprof.Proto;
using Hotpath.Testing;
using Microsoft.Playwright;

namespace Hotpath.Browser.Tests;

/// <summary>
/// Debian's Chromium driven by Playwright, and a real collector loaded with the real test profiles:
/// service "shop", cpu_1 and cpu_2 labelled version=1.4 at T0, cpu_3 labelled version=1.5 at T0+60 s,
/// a heap profile, service "xss" whose function name and label value are HTML, "checkout" with a planted regression
/// (<see cref="PlantedFleet"/>), and "hotapp": the .NET agent's
/// own profiles of examples/HotApp (allocation profiles with the allocated type as a sample label).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string XssFunction = "<img src=x onerror=\"window.__xss=1\">";
    public const string XssLabel = "<script>window.__xss=2</script>";

    public static readonly DateTimeOffset T0 = DateTimeOffset.UtcNow.AddMinutes(-30).AddTicks(-(DateTimeOffset.UtcNow.Ticks % TimeSpan.TicksPerSecond));

    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    public CollectorInstance Collector { get; private set; } = null!;

    /// <summary>Service "checkout": versions 1.4 and 1.5 for half an hour from here, 1.5 spending eight points more in <see cref="ChangeScenario.Leaf"/>.</summary>
    public static readonly DateTimeOffset PlantedStart = new DateTimeOffset(T0.UtcDateTime.Date, TimeSpan.Zero).AddHours(T0.Hour - 1);

    public static ChangeScenario Planted { get; } = new(TestData.Decode("cpu_2.pb.gz"));

    public static string Window => $"from={ProfileBytes.Format(T0.AddMinutes(-5))}&to={ProfileBytes.Format(T0.AddMinutes(5))}";

    public async Task InitializeAsync()
    {
        Collector = await CollectorInstance.StartAsync();
        await Collector.PostOkAsync("shop", "cpu", ProfileBytes.WithTime("cpu_1.pb.gz", T0), "&labels=region%3Deu,version%3D1.4");
        await Collector.PostOkAsync("shop", "cpu", ProfileBytes.WithTime("cpu_2.pb.gz", T0.AddSeconds(1)), "&labels=region%3Deu,version%3D1.4");
        await Collector.PostOkAsync("shop", "cpu", ProfileBytes.WithTime("cpu_3.pb.gz", T0.AddSeconds(60)), "&labels=region%3Dus,version%3D1.5");
        await Collector.PostOkAsync("shop", "heap", ProfileBytes.WithTime("heap_1.pb.gz", T0), "&labels=region%3Deu");
        await Collector.PostOkAsync("xss", "cpu", XssProfile(), "&labels=" + Uri.EscapeDataString("note=" + Uri.EscapeDataString(XssLabel)));
        await Collector.PostOkAsync("big", "cpu", SyntheticProfiles.ManyStacks(50_000, (T0.UtcTicks - DateTime.UnixEpoch.Ticks) * 100).ToByteArray());
        await PlantedFleet.WriteAsync(Collector, Planted, "checkout", PlantedStart);
        // Every kind, so the agent's wall and block profiles with their span and thread-pool labels are there too.
        await using (HotAppProcess.Start(seconds: 40, Collector.BaseAddress.ToString(), new Dictionary<string, string>
            { ["Hotpath__Agent__Window"] = "00:00:04", ["Hotpath__Agent__Types"] = "All" }))
            await HotAppExpectations.WaitForEveryTypeAsync(Collector, "hotapp", TimeSpan.FromSeconds(45), "cpu", "heap", "mutex", "wall", "block");

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
            await Browser.CloseAsync();
        _playwright?.Dispose();
        if (Collector is not null)
            await Collector.DisposeAsync();
    }

    /// <summary>A page at that path and query, once the UI says it is done loading.</summary>
    public async Task<IPage> OpenAsync(string pathAndQuery, int width = 1280, int height = 800, CollectorInstance? collector = null)
    {
        var page = await Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = width, Height = height } });
        await page.GotoAsync(new Uri((collector ?? Collector).BaseAddress, pathAndQuery).ToString());
        await WaitReadyAsync(page);
        return page;
    }

    public static async Task WaitReadyAsync(IPage page) =>
        await page.WaitForFunctionAsync("() => window.hotpath && window.hotpath.ready === true", null, new PageWaitForFunctionOptions { Timeout = 30_000 });

    public static async Task ScreenshotAsync(IPage page, string name)
    {
        var directory = Path.Combine(TestData.ProjectRoot, ".test", "screenshots");
        Directory.CreateDirectory(directory);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(directory, name + ".png"), FullPage = false });
    }

    private static byte[] XssProfile()
    {
        var p = new Profile { StringTable = { "", "samples", "count", XssFunction, "main" }, TimeNanos = (T0.UtcTicks - DateTime.UnixEpoch.Ticks) * 100 };
        p.SampleType.Add(new Hotpath.Pprof.Proto.ValueType { Type = 1, Unit = 2 });
        p.Function.Add(new Function { Id = 1, Name = 3 });
        p.Function.Add(new Function { Id = 2, Name = 4 });
        p.Location.Add(new Hotpath.Pprof.Proto.Location { Id = 1, Line = { new Line { FunctionId = 1 } } });
        p.Location.Add(new Hotpath.Pprof.Proto.Location { Id = 2, Line = { new Line { FunctionId = 2 } } });
        p.Sample.Add(new Sample { LocationId = { 1, 2 }, Value = { 7 } });
        return p.ToByteArray();
    }
}

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}
