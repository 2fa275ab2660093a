using Hotpath.Pprof;
using Hotpath.Pprof.Proto;
using Hotpath.Testing;

namespace Hotpath.Cli.Tests;

/// <summary>scrape against a real Go service with net/http/pprof, whose mutex, block and heap profiles count since it started.</summary>
public sealed class GoScrapeTests : IAsyncLifetime
{
    private CollectorInstance _collector = null!;
    private GoPprofServer _go = null!;

    public async Task InitializeAsync()
    {
        _collector = await CollectorInstance.StartAsync();
        _go = await GoPprofServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _go.DisposeAsync();
        await _collector.DisposeAsync();
    }

    [Fact]
    public async Task Mutex_and_block_are_stored_as_what_happened_during_the_recording_not_since_the_process_started()
    {
        var service = CollectorInstance.NewServiceName();
        await Task.Delay(TimeSpan.FromSeconds(4)); // the totals since start outgrow any one-second window

        var result = await CliRunner.RunAsync(_collector, "scrape", "--target", _go.BaseAddress.ToString(), "--service", service,
            "--types", "mutex,block", "--cpu-seconds", "1", "--rounds", "1");

        Assert.True(result.ExitCode == 0, result.Error);
        foreach (var type in (string[])["mutex", "block"])
        {
            var stored = await StoredAsync(service, type);
            var sinceStart = await SinceStartAsync(type);
            var delay = Array.IndexOf(stored.SampleTypeNames(), "delay/nanoseconds");
            Assert.InRange(stored.Totals()[delay], 1, sinceStart.Totals()[delay] / 2);
            Assert.InRange(stored.DurationNanos, 900_000_000, 5_000_000_000);
        }
    }

    [Fact]
    public async Task Heap_allocations_are_stored_as_deltas_between_scrapes_and_in_use_memory_as_it_is()
    {
        var service = CollectorInstance.NewServiceName();

        var result = await CliRunner.RunAsync(_collector, "scrape", "--target", _go.BaseAddress.ToString(), "--service", service,
            "--types", "heap", "--interval", "2s", "--rounds", "2");

        Assert.True(result.ExitCode == 0, result.Error);
        var stored = (await _collector.FindAllAsync(service)).Select(p => p.GetProperty("id").GetString()!).ToList();
        Assert.Equal(2, stored.Count);
        var first = await ProfileAsync(stored[0]);
        var second = await ProfileAsync(stored[1]);
        var sinceStart = await SinceStartAsync("heap");
        var allocSpace = Array.IndexOf(first.SampleTypeNames(), "alloc_space/bytes");
        var inuseSpace = Array.IndexOf(first.SampleTypeNames(), "inuse_space/bytes");
        // The first scrape cannot know when its allocations happened; the second holds two seconds' worth.
        Assert.Equal(0, first.Totals()[allocSpace]);
        Assert.InRange(second.Totals()[allocSpace], 1, sinceStart.Totals()[allocSpace] - 1);
        Assert.True(first.Totals()[inuseSpace] > 0);
        Assert.True(second.Totals()[inuseSpace] > 0);
    }

    private async Task<Profile> StoredAsync(string service, string type) =>
        await ProfileAsync((await _collector.FindAllAsync(service)).Single(p => p.GetProperty("type").GetString() == type).GetProperty("id").GetString()!);

    private async Task<Profile> ProfileAsync(string id) =>
        new ProfileDecoder().Decode(await _collector.Http.GetByteArrayAsync("/api/0/profiles/" + id));

    private async Task<Profile> SinceStartAsync(string type)
    {
        using var http = new HttpClient { BaseAddress = _go.BaseAddress };
        return new ProfileDecoder().Decode(await http.GetByteArrayAsync("debug/pprof/" + type));
    }
}
