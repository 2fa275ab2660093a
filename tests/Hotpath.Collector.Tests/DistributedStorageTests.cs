using System.Net;
using Hotpath.Pprof;
using Hotpath.Testing;
using static Hotpath.Collector.Tests.PostProfileTests;

namespace Hotpath.Collector.Tests;

/// <summary>Collectors on S3 (a real s3rver) and on several engines at once.</summary>
public sealed class DistributedStorageTests
{
    private const string AllTime = "from=2000-01-01T00:00:00&to=2100-01-01T00:00:00";

    internal static string[] S3Settings(Hotpath.Storage.S3.S3StoreOptions s3, string type = "s3") =>
    [
        $"--Storage:Type={type}", $"--Storage:S3:Bucket={s3.Bucket}", $"--Storage:S3:Prefix={s3.Prefix}",
        $"--Storage:S3:ServiceUrl={s3.ServiceUrl}", "--Storage:S3:ForcePathStyle=true", $"--Storage:S3:CreateBucket={s3.CreateBucket}",
    ];

    [Fact]
    public async Task Two_collectors_on_the_same_bucket_behave_as_one()
    {
        var s3 = S3Server.Instance.NewBucket();
        await using var first = await CollectorInstance.StartAsync(S3Settings(s3));
        await using var second = await CollectorInstance.StartAsync(S3Settings(s3));

        foreach (var file in TestData.CpuProfiles)
            await first.PostOkAsync("api", "cpu", TestData.Bytes(file), "&labels=region%3Deu");
        var id = (await first.PostOkAsync("api", "heap", TestData.Bytes("heap_1.pb.gz"))).GetProperty("id").GetString();

        var merged = await second.GetProfileAsync($"/api/0/profiles/merge?service=api&type=cpu&{AllTime}&labels=region%3Deu");
        using var found = await second.GetAsync($"/api/0/profiles?service=api&{AllTime}");
        Assert.Equal(TestData.Sum(TestData.CpuProfiles.Select(f => TestData.Totals[f])), merged.Totals());
        Assert.Equal(4, (await CollectorInstance.ReadEnvelopeAsync(found)).GetProperty("body").GetArrayLength());
        Assert.Equal(TestData.Bytes("heap_1.pb.gz"), await second.Http.GetByteArrayAsync("/api/0/profiles/" + id));
        Assert.Equal("[\"api\"]", (await CollectorInstance.ReadEnvelopeAsync(await second.GetAsync("/api/0/services"))).GetProperty("body").GetRawText());
    }

    [Fact]
    public async Task With_several_engines_every_write_lands_in_each_under_one_id()
    {
        var s3 = S3Server.Instance.NewBucket();
        var data = Path.Combine(Path.GetTempPath(), "hotpath-multi-" + Guid.NewGuid().ToString("N"));
        string id;
        await using (var both = await CollectorInstance.StartAsync([.. S3Settings(s3, "s3,sqlite"), $"--Storage:DataDirectory={data}"]))
            id = (await both.PostOkAsync("api", "cpu", TestData.Bytes("cpu_1.pb.gz"))).GetProperty("id").GetString()!;

        await using var s3Only = await CollectorInstance.StartAsync(S3Settings(s3));
        await using var sqliteOnly = await CollectorInstance.StartAsync($"--Storage:DataDirectory={data}");

        Assert.Equal(TestData.Bytes("cpu_1.pb.gz"), await s3Only.Http.GetByteArrayAsync("/api/0/profiles/" + id));
        Assert.Equal(TestData.Bytes("cpu_1.pb.gz"), await sqliteOnly.Http.GetByteArrayAsync("/api/0/profiles/" + id));
    }

    internal static string[] ClickHouseSettings(Hotpath.Storage.ClickHouse.ClickHouseStoreOptions ch) =>
        [$"--Storage:ClickHouse:Url={ch.Url}", $"--Storage:ClickHouse:Database={ch.Database}"];

    [Fact]
    public async Task Collectors_on_s3_for_bytes_and_clickhouse_for_the_rest_serve_each_others_writes()
    {
        var s3 = S3Server.Instance.NewBucket();
        var ch = ClickHouseServer.Instance.NewDatabase();
        await using var first = await CollectorInstance.StartAsync([.. S3Settings(s3, "s3,clickhouse"), .. ClickHouseSettings(ch)]);
        await using var second = await CollectorInstance.StartAsync([.. S3Settings(s3, "clickhouse,s3"), .. ClickHouseSettings(ch)]);

        var ids = new List<string>();
        foreach (var file in TestData.CpuProfiles)
            ids.Add((await first.PostOkAsync("api", "cpu", TestData.Bytes(file), "&labels=v%3D1")).GetProperty("id").GetString()!);
        // The writer's journal ships to ClickHouse and S3 within moments; the other collector reads what landed.
        await Eventually.TrueAsync(async () => (await second.FindAllAsync("api")).Count == ids.Count, TimeSpan.FromSeconds(10),
            "the second collector did not see the first one's writes");

        var merged = await second.GetProfileAsync($"/api/0/profiles/merge?service=api&type=cpu&{AllTime}&labels=v%3D1");
        Assert.Equal(TestData.Sum(TestData.CpuProfiles.Select(f => TestData.Totals[f])), merged.Totals());
        Assert.Equal(TestData.Bytes(TestData.CpuProfiles[1]), await second.Http.GetByteArrayAsync("/api/0/profiles/" + ids[1]));
        using var http = new HttpClient();
        using var bodies = await http.PostAsync(ch.Url, new StringContent($"SELECT sum(length(body)), countIf(body_object != '') FROM {ch.Database}.profiles FORMAT TabSeparated"));
        Assert.Equal($"0\t{ids.Count}", (await bodies.Content.ReadAsStringAsync()).Trim()); // the bytes are in S3 only
    }

    [Fact]
    public async Task ClickHouse_going_away_under_a_running_collector_is_a_503_and_what_was_acknowledged_lands_when_it_returns()
    {
        var port = CollectorProcess.FreePort();
        var server = ClickHouseServer.StartOnPort(port);
        var ch = new Hotpath.Storage.ClickHouse.ClickHouseStoreOptions { Url = server.Url, Database = "outage" };
        try
        {
            await using var collector = await CollectorInstance.StartAsync(["--Storage:Type=clickhouse", .. ClickHouseSettings(ch)]);
            var acknowledged = 1;
            await collector.PostOkAsync("api", "cpu", TestData.Bytes("cpu_1.pb.gz"));

            server.Kill();
            // The journal takes writes until a shipment fails and ClickHouse answers no probe; from then on they are refused, as reads are.
            string? refusal = null;
            for (var i = 0; i < 10_000 && refusal is null; i++)
            {
                using var write = await collector.PostAsync("service=api&type=cpu", TestData.Bytes("cpu_2.pb.gz"));
                if (write.StatusCode == HttpStatusCode.OK)
                    acknowledged++;
                else
                    refusal = await AssertError(write, 503);
            }

            Assert.StartsWith("storage unavailable: clickhouse", refusal);
            using (var read = await collector.GetAsync($"/api/0/profiles?service=api&{AllTime}"))
                await AssertError(read, 503);

            server = ClickHouseServer.StartOnPort(port, server.Directory);
            await Eventually.TrueAsync(async () =>
            {
                using var write = await collector.PostAsync("service=api&type=cpu", TestData.Bytes("cpu_2.pb.gz"));
                return write.StatusCode == HttpStatusCode.OK;
            }, TimeSpan.FromSeconds(30), "writes were not taken again once ClickHouse was back");
            acknowledged++;
            await using var other = await CollectorInstance.StartAsync(["--Storage:Type=clickhouse", .. ClickHouseSettings(ch)]);
            await Eventually.TrueAsync(async () => (await other.FindAllAsync("api")).Count == acknowledged, TimeSpan.FromSeconds(30),
                "a second collector did not find every acknowledged profile");
        }
        finally
        {
            server.Dispose();
        }
    }

    [Fact]
    public async Task A_store_that_is_down_answers_503_naming_it_and_the_collector_recovers_when_it_returns()
    {
        var port = CollectorProcess.FreePort();
        var s3 = S3Server.Instance.NewBucket() with { ServiceUrl = $"http://127.0.0.1:{port}", CreateBucket = false };
        await using var collector = await CollectorInstance.StartAsync(S3Settings(s3));

        using (var write = await collector.PostAsync("service=api&type=cpu", TestData.Bytes("cpu_1.pb.gz")))
            Assert.StartsWith("storage unavailable: s3", await AssertError(write, 503));
        using (var read = await collector.GetAsync($"/api/0/profiles?service=api&{AllTime}"))
            Assert.DoesNotContain("S3RVER", await AssertError(read, 503));

        using var server = S3Server.StartOnPort(port);
        using var s3Client = new Hotpath.Storage.S3.S3ProfileStore(s3 with { CreateBucket = true });
        await s3Client.ProbeAsync(default); // makes the bucket, as an operator would
        var meta = await collector.PostOkAsync("api", "cpu", TestData.Bytes("cpu_1.pb.gz"));

        using var back = await collector.GetAsync("/api/0/profiles/" + meta.GetProperty("id").GetString());
        Assert.Equal(HttpStatusCode.OK, back.StatusCode);
    }
}
