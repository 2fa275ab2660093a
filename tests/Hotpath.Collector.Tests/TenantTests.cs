using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Hotpath.Pprof;
using Hotpath.Testing;
using static Hotpath.Collector.Tests.DistributedStorageTests;

namespace Hotpath.Collector.Tests;

/// <summary>
/// Tenants (X-Scope-OrgID, as Pyroscope and Grafana send it) over real HTTP and gRPC: each protocol writes to the
/// tenant its request names, every read API answers with that tenant's data only, on every engine, and tokens
/// bound to a tenant act for it alone.
/// </summary>
public sealed class TenantTests
{
    private const string AllTime = "from=2000-01-01T00:00:00&to=2100-01-01T00:00:00";
    private const string Cpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
    private static readonly DateTimeOffset T0 = TestClock.UtcNow.AddHours(-3);

    private static HttpClient As(CollectorInstance collector, string? tenant, string? token = null)
    {
        var http = new HttpClient { BaseAddress = collector.BaseAddress };
        if (tenant is not null)
            http.DefaultRequestHeaders.Add("X-Scope-OrgID", tenant);
        if (token is not null)
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient http, string service, string file, int minute, string labels) =>
        await http.PostAsync($"/api/0/profiles?service={service}&type=cpu&labels={labels}", new ByteArrayContent(ProfileBytes.WithTime(file, T0.AddMinutes(minute))));

    private static async Task<string[]> ServicesAsync(HttpClient http)
    {
        using var reply = await http.GetAsync("/api/0/services");
        return reply.StatusCode == HttpStatusCode.NotFound
            ? []
            : [.. (await CollectorInstance.ReadEnvelopeAsync(reply)).GetProperty("body").EnumerateArray().Select(s => s.GetString()!)];
    }

    private static async Task<long[]?> MergedAsync(HttpClient http, string service)
    {
        using var reply = await http.GetAsync($"/api/0/profiles/merge?service={service}&type=cpu&{AllTime}");
        return reply.StatusCode == HttpStatusCode.NotFound
            ? null
            : new ProfileDecoder().Decode(await reply.Content.ReadAsByteArrayAsync()).Totals();
    }

    private static long Millis(JsonElement answer, string name) =>
        long.Parse(answer.GetProperty(name).GetString()!, System.Globalization.CultureInfo.InvariantCulture);

    public static TheoryData<string> Engines => ["sqlite", "s3", "clickhouse"];

    private static string[] Settings(string engine) => engine switch
    {
        "s3" => S3Settings(S3Server.Instance.NewBucket()),
        "clickhouse" => ["--Storage:Type=clickhouse", .. ClickHouseSettings(ClickHouseServer.Instance.NewDatabase())],
        _ => [],
    };

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task Two_tenants_with_one_service_name_each_read_only_their_own_through_every_read_api(string engine)
    {
        await using var collector = await CollectorInstance.StartAsync(Settings(engine));
        using var acme = As(collector, "acme");
        using var globex = As(collector, "globex");
        using var anyone = As(collector, tenant: null);
        var acmeIds = new List<string>();
        foreach (var (file, minute) in new[] { ("cpu_1.pb.gz", 0), ("cpu_2.pb.gz", 1) })
        {
            using var reply = await PostAsync(acme, "api", file, minute, "team%3Dacme");
            acmeIds.Add((await CollectorInstance.ReadEnvelopeAsync(reply)).GetProperty("body").GetProperty("id").GetString()!);
        }

        using (var reply = await PostAsync(globex, "api", "cpu_3.pb.gz", 2, "team%3Dglobex"))
            Assert.Equal(HttpStatusCode.OK, reply.StatusCode);
        var acmeTotals = TestData.Sum([TestData.Totals["cpu_1.pb.gz"], TestData.Totals["cpu_2.pb.gz"]]);
        var globexTotals = TestData.Totals["cpu_3.pb.gz"];
        // ClickHouse's writes are acknowledged from the journal and land moments later.
        await Eventually.TrueAsync(async () => await MergedAsync(acme, "api") is not null && await MergedAsync(globex, "api") is not null,
            TimeSpan.FromSeconds(20), "the writes did not land");

        // The profefe API: services, merges, finds, bodies by id.
        Assert.Equal(["api"], await ServicesAsync(acme));
        Assert.Equal(["api"], await ServicesAsync(globex));
        Assert.Empty(await ServicesAsync(anyone));
        Assert.Equal(acmeTotals, await MergedAsync(acme, "api"));
        Assert.Equal(globexTotals, await MergedAsync(globex, "api"));
        Assert.Null(await MergedAsync(anyone, "api"));
        Assert.Equal(HttpStatusCode.OK, (await acme.GetAsync("/api/0/profiles/" + acmeIds[0])).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await globex.GetAsync("/api/0/profiles/" + acmeIds[0])).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await anyone.GetAsync($"/api/0/profiles/{acmeIds[0]}+{acmeIds[1]}")).StatusCode);
        using (var found = await globex.GetAsync($"/api/0/profiles?service=api&{AllTime}&labels=team%3Dacme"))
            Assert.Equal(HttpStatusCode.NotFound, found.StatusCode);

        // The UI's endpoints.
        using (var labels = await globex.GetAsync("/api/0/ui/labels?service=api"))
            Assert.DoesNotContain("acme", await labels.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Pyroscope's query API, as Grafana's data source calls it with the tenant in its header.
        var selector = new { profileTypeID = Cpu, labelSelector = "{service_name=\"api\"}", start = T0.AddHours(-1).ToUnixTimeMilliseconds(), end = T0.AddHours(1).ToUnixTimeMilliseconds() };
        foreach (var (tenant, totals) in new[] { ("acme", acmeTotals), ("globex", globexTotals) })
        {
            var client = new ConnectQuerierClient(collector.BaseAddress, binary: true, tenant: tenant);
            var (answer, error, message) = await client.CallAsync("selectMergeStacktraces", selector);
            Assert.True(error is null, message);
            Assert.Equal(totals[1], long.Parse(answer!.Value.GetProperty("flamegraph").GetProperty("total").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
            var (values, _, _) = await client.CallAsync("labelValues", new { name = "team", start = selector.start, end = selector.end });
            Assert.Equal([tenant], values!.Value.GetProperty("names").EnumerateArray().Select(v => v.GetString()));
        }

        // Profile stats, which Drilldown asks on load: a tenant with data, and one without.
        var (stats, _, _) = await new ConnectQuerierClient(collector.BaseAddress, binary: false, tenant: "acme").CallAsync("getProfileStats", new { });
        Assert.True(stats!.Value.GetProperty("dataIngested").GetBoolean());
        var (oldest, newest) = (Millis(stats.Value, "oldestProfileTime"), Millis(stats.Value, "newestProfileTime"));
        Assert.InRange(oldest, T0.AddDays(-1).ToUnixTimeMilliseconds(), T0.ToUnixTimeMilliseconds());
        Assert.InRange(newest, oldest, T0.AddMinutes(1).ToUnixTimeMilliseconds());
        var (noStats, _, _) = await new ConnectQuerierClient(collector.BaseAddress, binary: true, tenant: "initech").CallAsync("getProfileStats", new { });
        Assert.False(noStats!.Value.TryGetProperty("dataIngested", out _));

        var (none, _, _) = await new ConnectQuerierClient(collector.BaseAddress, binary: false).CallAsync("selectMergeStacktraces", selector);
        Assert.False(none!.Value.TryGetProperty("flamegraph", out var empty) && empty.TryGetProperty("total", out _));
        using var render = JsonDocument.Parse(await globex.GetStringAsync(
            $"/pyroscope/render?query={Uri.EscapeDataString(Cpu + "{service_name=\"api\"}")}&from={T0.AddHours(-1).ToUnixTimeSeconds()}&until={T0.AddHours(1).ToUnixTimeSeconds()}"));
        Assert.Equal(globexTotals[1], render.RootElement.GetProperty("flamebearer").GetProperty("numTicks").GetInt64());
    }

    [Fact]
    public async Task Every_ingest_protocol_writes_to_the_tenant_its_request_names()
    {
        await using var collector = await CollectorInstance.StartAsync("--Collector:OtlpGrpcAddress=127.0.0.1:0");
        using var acme = As(collector, "acme");
        using var anyone = As(collector, tenant: null);

        using (var profefe = await PostAsync(acme, "by-profefe", "cpu_1.pb.gz", 0, "k%3Dv"))
            Assert.Equal(HttpStatusCode.OK, profefe.StatusCode);
        using (var ingest = await acme.PostAsync($"/ingest?format=pprof&name=by-ingest&from={T0.ToUnixTimeSeconds()}&until={T0.ToUnixTimeSeconds() + 10}",
                   new ByteArrayContent(TestData.Bytes("cpu_2.pb.gz"))))
            Assert.Equal(HttpStatusCode.OK, ingest.StatusCode);
        var otlpHttp = OtlpIngestTests.Request(OtlpIngestTests.GoProfile("by-otlp-http", "cpu_3.pb.gz"));
        using (var otlp = await acme.PostAsync("/v1development/profiles", OtlpIngestTests.Protobuf(otlpHttp.ToByteArray())))
            Assert.Equal(HttpStatusCode.OK, otlp.StatusCode);
        await OtlpIngestTests.ExportGrpcAsync(collector, OtlpIngestTests.Request(OtlpIngestTests.GoProfile("by-otlp-grpc", "heap_1.pb.gz")), tenant: "acme");

        Assert.Equal(["by-ingest", "by-otlp-grpc", "by-otlp-http", "by-profefe"], await ServicesAsync(acme));
        Assert.Empty(await ServicesAsync(anyone));
        Assert.Empty(await ServicesAsync(As(collector, "globex")));
    }

    [Fact]
    public async Task A_tenants_token_acts_for_its_tenant_alone_whatever_header_it_sends()
    {
        await using var collector = await CollectorInstance.StartAsync("--Collector:OtlpGrpcAddress=127.0.0.1:0", "--Auth:ReadToken=admin-read",
            "--Auth:Tenants:acme:WriteToken=acme-w", "--Auth:Tenants:acme:ReadToken=acme-r", "--Auth:Tenants:globex:ReadToken=globex-r");

        // acme's write token writes for acme with no header, and never for another tenant.
        using (var written = await PostAsync(As(collector, tenant: null, token: "acme-w"), "api", "cpu_1.pb.gz", 0, "k%3Dv"))
            Assert.Equal(HttpStatusCode.OK, written.StatusCode);
        using (var forGlobex = await PostAsync(As(collector, "globex", "acme-w"), "api", "cpu_2.pb.gz", 0, "k%3Dv"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forGlobex.StatusCode);
            Assert.Contains("acme", (await CollectorInstance.ReadEnvelopeAsync(forGlobex)).GetProperty("error").GetString(), StringComparison.Ordinal);
        }

        using (var anonymous = await PostAsync(As(collector, "acme"), "api", "cpu_2.pb.gz", 0, "k%3Dv"))
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        var grpc = await Assert.ThrowsAsync<RpcException>(() => OtlpIngestTests.ExportGrpcAsync(collector,
            OtlpIngestTests.Request(OtlpIngestTests.GoProfile("api", "cpu_2.pb.gz")), token: "acme-w", tenant: "globex"));
        Assert.Equal(StatusCode.PermissionDenied, grpc.StatusCode);

        // Reads: each tenant's read token sees its own; the global read token reads any tenant it names.
        Assert.Equal(["api"], await ServicesAsync(As(collector, tenant: null, token: "acme-r")));
        Assert.Empty(await ServicesAsync(As(collector, tenant: null, token: "globex-r")));
        Assert.Equal(["api"], await ServicesAsync(As(collector, "acme", "admin-read")));
        Assert.Empty(await ServicesAsync(As(collector, tenant: null, token: "admin-read")));
        using (var wrongKind = await As(collector, tenant: null, token: "acme-w").GetAsync("/api/0/services"))
            Assert.Equal(HttpStatusCode.Unauthorized, wrongKind.StatusCode);
        var (_, code, _) = await new ConnectQuerierClient(collector.BaseAddress, binary: true, token: "globex-r", tenant: "acme").CallAsync("profileTypes", new { });
        Assert.Equal("PermissionDenied", code);
    }

    [Fact]
    public async Task A_header_that_is_no_tenant_name_is_a_bad_request_in_each_protocols_shape()
    {
        await using var collector = await CollectorInstance.StartAsync();
        using var bad = As(collector, "a/b");

        using var profefe = await PostAsync(bad, "api", "cpu_1.pb.gz", 0, "k%3Dv");
        var (_, code, message) = await new ConnectQuerierClient(collector.BaseAddress, binary: true, tenant: new string('x', 151)).CallAsync("profileTypes", new { });

        Assert.Equal(HttpStatusCode.BadRequest, profefe.StatusCode);
        Assert.Contains("X-Scope-OrgID", (await CollectorInstance.ReadEnvelopeAsync(profefe)).GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("InvalidArgument", code);
        Assert.Contains("at most 150", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_given_to_two_tenants_stops_the_collector_at_start()
    {
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => CollectorInstance.StartAsync("--Auth:Tenants:acme:ReadToken=same", "--Auth:Tenants:globex:ReadToken=same"));

        Assert.Contains("Auth:Tenants:globex:ReadToken is the same token as Auth:Tenants:acme:ReadToken", failure.Message, StringComparison.Ordinal);
    }
}
