using System.Diagnostics;
using System.Net;
using Hotpath.Testing;
using static Hotpath.Collector.Tests.PostProfileTests;

namespace Hotpath.Collector.Tests;

/// <summary>
/// Remote engines that are down, hung or come back, played by a relay before the real ClickHouse and
/// s3rver: the collector starts regardless, says which engine is down, answers 503 within Storage:Timeout,
/// and serves again once the engine does, without a restart.
/// </summary>
public sealed class StorageOutageTests
{
    private const string AllTime = "from=2000-01-01T00:00:00&to=2100-01-01T00:00:00";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private static string[] ClickHouse(string url, string database) =>
        ["--Storage:Type=clickhouse", $"--Storage:ClickHouse:Url={url}", $"--Storage:ClickHouse:Database={database}", "--Storage:Timeout=00:00:01"];

    private static string[] S3(string url, string bucket, string type = "s3") =>
    [
        $"--Storage:Type={type}", $"--Storage:S3:Bucket={bucket}", $"--Storage:S3:ServiceUrl={url}", "--Storage:S3:ForcePathStyle=true",
        "--Storage:S3:CreateBucket=true", "--Storage:Timeout=00:00:01",
    ];

    public static TheoryData<string, TcpRelay.Mode> Outages => new()
    {
        { "clickhouse", TcpRelay.Mode.Refuse },
        { "clickhouse", TcpRelay.Mode.Hang },
        { "s3", TcpRelay.Mode.Refuse },
        { "s3", TcpRelay.Mode.Hang },
    };

    [Theory]
    [MemberData(nameof(Outages))]
    public async Task An_engine_down_at_start_leaves_the_collector_up_naming_it_until_it_comes_back(string engine, TcpRelay.Mode outage)
    {
        var real = engine == "clickhouse" ? ClickHouseServer.Instance.Url : S3Server.Instance.Url;
        await using var relay = TcpRelay.Start(outage, real);
        var settings = engine == "clickhouse"
            ? ClickHouse(relay.Url, "t_" + Guid.NewGuid().ToString("N")[..16])
            : S3(relay.Url, "t-" + Guid.NewGuid().ToString("N")[..20]);

        await using var collector = await CollectorInstance.StartAsync(settings);

        using (var health = await collector.GetAsync("/healthz"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            Assert.StartsWith($"{engine}: unavailable: ", await health.Content.ReadAsStringAsync());
        }

        var clock = Stopwatch.StartNew();
        using (var write = await collector.PostAsync("service=api&type=cpu", TestData.Bytes("cpu_1.pb.gz")))
            Assert.StartsWith($"storage unavailable: {engine}: ", await AssertError(write, 503));
        using (var read = await collector.GetAsync($"/api/0/profiles?service=api&{AllTime}"))
            Assert.StartsWith($"storage unavailable: {engine}: ", await AssertError(read, 503));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"503s took {clock.Elapsed.TotalSeconds:0.0} s with a 1 s timeout");

        relay.Switch(TcpRelay.Mode.Forward);
        await Eventually.TrueAsync(async () =>
        {
            using var health = await collector.GetAsync("/healthz");
            return health.StatusCode == HttpStatusCode.OK;
        }, Deadline, $"/healthz did not recover once {engine} answered");
        Assert.Equal(TestData.Bytes("cpu_1.pb.gz"), await WrittenAndReadBackAsync(collector));
    }

    /// <summary>
    /// A first write once the engines answer again, read back by its id: s3rver beside the whole suite on 2 cores
    /// may miss the 1 s timeout now and then (a 503 that names it), so each call is retried until it succeeds.
    /// </summary>
    private static async Task<byte[]> WrittenAndReadBackAsync(CollectorInstance collector)
    {
        string? id = null;
        byte[]? body = null;
        await Eventually.TrueAsync(async () =>
        {
            using var write = await collector.PostAsync("service=api&type=cpu", TestData.Bytes("cpu_1.pb.gz"));
            if (write.StatusCode == HttpStatusCode.OK)
                id = (await CollectorInstance.ReadEnvelopeAsync(write)).GetProperty("body").GetProperty("id").GetString();
            return id is not null;
        }, Deadline, "no write was taken once the engines answered");
        await Eventually.TrueAsync(async () =>
        {
            using var read = await collector.GetAsync("/api/0/profiles/" + id);
            if (read.StatusCode == HttpStatusCode.OK)
                body = await read.Content.ReadAsByteArrayAsync();
            return body is not null;
        }, Deadline, "the write was not read back once the engines answered");
        return body!;
    }

    [Fact]
    public async Task A_collector_started_while_clickhouse_and_s3_are_both_down_becomes_healthy_when_they_come_up()
    {
        await using var clickHouse = TcpRelay.Start(TcpRelay.Mode.Refuse, ClickHouseServer.Instance.Url);
        await using var s3 = TcpRelay.Start(TcpRelay.Mode.Refuse, S3Server.Instance.Url);
        await using var collector = await CollectorInstance.StartAsync(
            [.. S3(s3.Url, "t-" + Guid.NewGuid().ToString("N")[..20], "s3,clickhouse"), $"--Storage:ClickHouse:Url={clickHouse.Url}", "--Storage:ClickHouse:Database=t_" + Guid.NewGuid().ToString("N")[..16]]);

        using (var health = await collector.GetAsync("/healthz"))
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        using (var write = await collector.PostAsync("service=api&type=cpu", TestData.Bytes("cpu_1.pb.gz")))
            Assert.StartsWith("storage unavailable: ", await AssertError(write, 503));

        clickHouse.Switch(TcpRelay.Mode.Forward);
        using (var health = await collector.GetAsync("/healthz"))
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode); // S3 still down: one engine, both parts
        s3.Switch(TcpRelay.Mode.Forward);
        await Eventually.TrueAsync(async () =>
        {
            using var health = await collector.GetAsync("/healthz");
            return health.StatusCode == HttpStatusCode.OK;
        }, Deadline, "/healthz did not recover once ClickHouse and S3 answered");
        Assert.Equal(TestData.Bytes("cpu_1.pb.gz"), await WrittenAndReadBackAsync(collector));
    }

    [Fact]
    public async Task An_engine_that_hangs_after_start_gets_503_within_the_timeout_and_healthz_names_it()
    {
        await using var relay = TcpRelay.Start(TcpRelay.Mode.Forward, S3Server.Instance.Url);
        await using var collector = await CollectorInstance.StartAsync(S3(relay.Url, "t-" + Guid.NewGuid().ToString("N")[..20]));
        // The engine works first (s3rver beside the whole suite on 2 cores may miss the 1 s timeout once: retried).
        await Eventually.TrueAsync(async () =>
        {
            using var first = await collector.PostAsync("service=api&type=cpu", TestData.Bytes("cpu_1.pb.gz"));
            return first.StatusCode == HttpStatusCode.OK;
        }, Deadline, "s3 never took a first write through the relay");

        relay.Switch(TcpRelay.Mode.Hang);
        var clock = Stopwatch.StartNew();
        using var write = await collector.PostAsync("service=api&type=cpu", TestData.Bytes("cpu_2.pb.gz"));

        Assert.Equal("storage unavailable: s3: object storage did not answer within 1 s (Storage:Timeout)", await AssertError(write, 503));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the 503 took {clock.Elapsed.TotalSeconds:0.0} s with a 1 s timeout");
        using var health = await collector.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
    }

    [Fact]
    public async Task With_sqlite_and_s3_and_s3_down_a_write_is_acknowledged_once_naming_the_engine_that_has_it()
    {
        await using var relay = TcpRelay.Start(TcpRelay.Mode.Refuse, S3Server.Instance.Url);
        await using var collector = await CollectorInstance.StartAsync(S3(relay.Url, "t-" + Guid.NewGuid().ToString("N")[..20], "sqlite,s3"));
        var service = CollectorInstance.NewServiceName("half");

        var written = await collector.PostOkAsync(service, "cpu", TestData.Bytes("cpu_1.pb.gz"));

        Assert.Equal(["sqlite"], written.GetProperty("stores").EnumerateArray().Select(s => s.GetString()));
        var found = Assert.Single(await collector.FindAllAsync(service));
        Assert.Equal(written.GetProperty("id").GetString(), found.GetProperty("id").GetString());

        relay.Switch(TcpRelay.Mode.Forward);
        await Eventually.TrueAsync(async () =>
        {
            using var health = await collector.GetAsync("/healthz");
            return health.StatusCode == HttpStatusCode.OK;
        }, Deadline, "/healthz did not recover once s3 answered");
        var both = await collector.PostOkAsync(service, "cpu", TestData.Bytes("cpu_2.pb.gz"));
        Assert.Equal(["sqlite", "s3"], both.GetProperty("stores").EnumerateArray().Select(s => s.GetString()));
    }
}
