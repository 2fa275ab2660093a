using Hotpath.Pprof;
using Hotpath.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotpath.Agent.Tests;

public sealed class UploaderTests
{
    private static byte[] CpuProfile(params (string[] Stack, long Nanos)[] samples)
    {
        var builder = new ProfileBuilder([("samples", "count"), ("cpu", "nanoseconds")], ("cpu", "nanoseconds"), 10_000_000);
        foreach (var (stack, nanos) in samples)
            builder.Add([.. stack.Select(f => new ProfileFrame(f))], [1, nanos]);
        return ProfileEncoder.ToGzipBytes(builder.Build(DateTimeOffset.UtcNow, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_built_profile_is_valid_pprof_that_sums_repeated_stacks()
    {
        var bytes = CpuProfile((["Shop.Cart.Total", "Shop.Program.Main"], 30), (["Shop.Cart.Total", "Shop.Program.Main"], 20), (["Shop.Db.Query", "Shop.Program.Main"], 50));

        var profile = new ProfileDecoder().Decode(bytes);

        Assert.Equal([3L, 100], profile.Totals());
        Assert.Equal(2, profile.Sample.Count);
        Assert.Equal(["", "samples", "count", "cpu", "nanoseconds", "Shop.Cart.Total", "Shop.Program.Main", "Shop.Db.Query"], profile.StringTable);
    }

    [Fact]
    public async Task Profiles_of_an_agent_with_a_tenant_are_that_tenants_alone()
    {
        await using var collector = await CollectorInstance.StartAsync();
        var service = CollectorInstance.NewServiceName();
        await using var uploader = new ProfileUploader(new UploaderOptions { Collector = collector.BaseAddress, Service = service, Tenant = "acme" },
            NullLogger<ProfileUploader>.Instance);

        uploader.Enqueue(ProfileType.Cpu, CpuProfile((["A.B.C"], 10)));
        await Eventually.TrueAsync(() => uploader.Uploaded == 1, TimeSpan.FromSeconds(10), "the profile was not uploaded");

        Assert.Empty(await collector.FindAllAsync(service));
        using var acme = new HttpClient { BaseAddress = collector.BaseAddress, DefaultRequestHeaders = { { "X-Scope-OrgID", "acme" } } };
        using var found = await acme.GetAsync($"/api/0/profiles?service={service}&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00");
        Assert.Equal(1, (await CollectorInstance.ReadEnvelopeAsync(found)).GetProperty("body").GetArrayLength());
    }

    [Fact]
    public async Task Queued_profiles_reach_the_collector_with_the_service_instance_and_labels()
    {
        await using var collector = await CollectorInstance.StartAsync();
        var service = CollectorInstance.NewServiceName();
        await using var uploader = new ProfileUploader(new UploaderOptions
        {
            Collector = collector.BaseAddress,
            Service = service,
            InstanceId = "web-1",
            Labels = new Dictionary<string, string> { ["version"] = "1.4", ["path"] = "/a,b=c" },
        }, NullLogger<ProfileUploader>.Instance);

        uploader.Enqueue(ProfileType.Cpu, CpuProfile((["A.B.C"], 10)));
        await Eventually.TrueAsync(() => uploader.Uploaded == 1, TimeSpan.FromSeconds(10), "the profile was not uploaded");

        var found = Assert.Single(await collector.FindAllAsync(service));
        Assert.Equal("web-1", found.GetProperty("instance_id").GetString());
        Assert.Equal("[{\"key\":\"path\",\"value\":\"/a,b=c\"},{\"key\":\"version\",\"value\":\"1.4\"}]", found.GetProperty("labels").GetRawText());
    }

    [Fact]
    public async Task A_refused_profile_is_not_sent_again()
    {
        await using var collector = await CollectorInstance.StartAsync();
        await using var uploader = new ProfileUploader(new UploaderOptions { Collector = collector.BaseAddress, Service = "s", InitialBackoff = TimeSpan.FromMilliseconds(10) },
            NullLogger<ProfileUploader>.Instance);

        uploader.Enqueue(ProfileType.Cpu, [1, 2, 3]); // not a profile: 400
        uploader.Enqueue(ProfileType.Cpu, CpuProfile((["A.B.C"], 10)));
        // One reader, in order: once the next profile is in, a resend of the refused one would have come before it.
        await Eventually.TrueAsync(() => uploader.Uploaded == 1, TimeSpan.FromSeconds(10), "the profile after the refused one was not uploaded");

        var metrics = await collector.Http.GetStringAsync("/metrics");
        Assert.Equal(1, uploader.Dropped);
        Assert.Contains("hotpath_http_requests_total{route=\"/api/0/profiles\",method=\"POST\",code=\"400\"} 1", metrics);
    }

    [Fact]
    public async Task Profiles_wait_while_the_collector_is_down_and_arrive_when_it_returns()
    {
        var port = CollectorProcess.FreePort();
        var service = CollectorInstance.NewServiceName();
        await using var uploader = new ProfileUploader(new UploaderOptions
        {
            Collector = new Uri($"http://127.0.0.1:{port}"),
            Service = service,
            InitialBackoff = TimeSpan.FromMilliseconds(100),
            MaxBackoff = TimeSpan.FromMilliseconds(400),
        }, NullLogger<ProfileUploader>.Instance);

        uploader.Enqueue(ProfileType.Cpu, CpuProfile((["A.B.C"], 10)));
        await Task.Delay(500);
        Assert.Equal(0, uploader.Uploaded);

        await using var collector = await CollectorInstance.StartAsync($"--Collector:Address=127.0.0.1:{port}");
        await Eventually.TrueAsync(() => uploader.Uploaded == 1, TimeSpan.FromSeconds(10), "the waiting profile did not arrive");

        Assert.Single(await collector.FindAllAsync(service));
    }

    [Fact]
    public async Task A_full_queue_drops_the_oldest_rather_than_grow()
    {
        var port = CollectorProcess.FreePort();
        var service = CollectorInstance.NewServiceName();
        await using var uploader = new ProfileUploader(new UploaderOptions
        {
            Collector = new Uri($"http://127.0.0.1:{port}"),
            Service = service,
            MaxQueued = 2,
            InitialBackoff = TimeSpan.FromMilliseconds(100),
            MaxBackoff = TimeSpan.FromMilliseconds(200),
        }, NullLogger<ProfileUploader>.Instance);

        // Told apart by their CPU totals: profile i has i + 1 ms.
        for (var i = 0; i < 5; i++)
            uploader.Enqueue(ProfileType.Cpu, CpuProfile((["A.B.C"], (i + 1) * 1_000_000L)));
        await Eventually.TrueAsync(() => uploader.Dropped >= 2, TimeSpan.FromSeconds(10), "no profile was dropped from the full queue");
        await using var collector = await CollectorInstance.StartAsync($"--Collector:Address=127.0.0.1:{port}");
        await Eventually.TrueAsync(() => uploader.Uploaded + uploader.Dropped == 5, TimeSpan.FromSeconds(10), "the queue did not drain");

        var arrived = new List<long>();
        foreach (var meta in await collector.FindAllAsync(service))
            arrived.Add((await collector.GetProfileAsync("/api/0/profiles/" + meta.GetProperty("id").GetString())).Totals()[1] / 1_000_000 - 1);
        // The newest two waited; one older one may have been taken (in flight) before they came; the others went.
        Assert.Contains(3, arrived);
        Assert.Contains(4, arrived);
        Assert.InRange(arrived.Count, 2, 3);
        Assert.Equal(5 - arrived.Count, uploader.Dropped);
    }

    [Fact]
    public async Task After_the_last_attempt_a_profile_is_given_up()
    {
        await using var uploader = new ProfileUploader(new UploaderOptions
        {
            Collector = new Uri($"http://127.0.0.1:{CollectorProcess.FreePort()}"),
            Service = "s",
            MaxAttempts = 3,
            InitialBackoff = TimeSpan.FromMilliseconds(10),
        }, NullLogger<ProfileUploader>.Instance);

        uploader.Enqueue(ProfileType.Cpu, [1]);
        await Eventually.TrueAsync(() => uploader.Dropped == 1, TimeSpan.FromSeconds(10), "the profile was not given up after 3 attempts");

        Assert.Equal(1, uploader.Dropped);
        Assert.Equal(0, uploader.Uploaded);
    }
}
