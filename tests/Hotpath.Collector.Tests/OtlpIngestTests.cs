using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Hotpath.Collector.Api.Otlp;
using Hotpath.Pprof;
using Hotpath.Testing;
using static Hotpath.Collector.Tests.PostProfileTests;

namespace Hotpath.Collector.Tests;

/// <summary>A collector with OTLP's gRPC port on (an OS-chosen one), shared by the tests of a class.</summary>
public sealed class OtlpCollectorFixture : IAsyncLifetime
{
    private CollectorInstance? _instance;

    public CollectorInstance Collector => _instance ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _instance = await CollectorInstance.StartAsync("--Collector:OtlpGrpcAddress=127.0.0.1:0");

    public async Task DisposeAsync()
    {
        if (_instance is not null)
            await _instance.DisposeAsync();
    }
}

/// <summary>OpenTelemetry profiles over OTLP/HTTP (protobuf and JSON, gzip or not) and OTLP/gRPC, against the real collector.</summary>
public sealed class OtlpIngestTests(OtlpCollectorFixture fixture) : IClassFixture<OtlpCollectorFixture>
{
    private const string AllTime = "from=2000-01-01T00:00:00&to=2100-01-01T00:00:00";
    private const long EbpfPeriod = 50_000_000; // 20 Hz, the eBPF profiler's default

    /// <summary>The gRPC method as OTLP exporters call it, by its full name.</summary>
    private static readonly Method<ExportProfilesServiceRequest, ExportProfilesServiceResponse> Export = new(MethodType.Unary,
        "opentelemetry.proto.collector.profiles.v1development.ProfilesService", "Export",
        Marshallers.Create(r => r.ToByteArray(), ExportProfilesServiceRequest.Parser.ParseFrom),
        Marshallers.Create(r => r.ToByteArray(), ExportProfilesServiceResponse.Parser.ParseFrom));

    private CollectorInstance Collector => fixture.Collector;

    internal static ExportProfilesServiceRequest Request(OtlpPayloads payloads) =>
        new() { ResourceProfiles = { payloads.Data.ResourceProfiles }, Dictionary = payloads.Data.Dictionary };

    internal static OtlpPayloads GoProfile(string service, string file, params (string Key, string Value)[] attributes)
    {
        var payloads = new OtlpPayloads();
        var resource = new Dictionary<string, string> { ["service.name"] = service };
        foreach (var (key, value) in attributes)
            resource[key] = value;
        payloads.AddPprof(payloads.Resource(resource, "go.opentelemetry.io/collector/pprof"), TestData.Decode(file));
        return payloads;
    }

    private static OtlpPayloads EbpfCpu(string service)
    {
        var payloads = new OtlpPayloads();
        payloads.AddEbpfCpu(payloads.Resource(new Dictionary<string, string> { ["service.name"] = service, ["host.name"] = "node-1" }, "go.opentelemetry.io/ebpf-profiler"),
            [(["main", "serve", "checksumOfTheBasket"], 30), (["main", "serve", "render"], 10)], EbpfPeriod, (ulong)UnixNanos.From(TestClock.UtcNow));
        return payloads;
    }

    internal static ByteArrayContent Protobuf(byte[] body, bool gzip = false)
    {
        var content = new ByteArrayContent(gzip ? Gzip(body) : body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        if (gzip)
            content.Headers.ContentEncoding.Add("gzip");
        return content;
    }

    private static byte[] Gzip(byte[] body)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest))
            gzip.Write(body);
        return buffer.ToArray();
    }

    /// <param name="tenant">Sent as X-Scope-OrgID metadata; null: none.</param>
    internal static async Task<ExportProfilesServiceResponse> ExportGrpcAsync(CollectorInstance collector, ExportProfilesServiceRequest request,
        string? token = null, string? tenant = null)
    {
        using var channel = GrpcChannel.ForAddress(collector.Addresses[1]);
        var headers = new Metadata { { "grpc-internal-encoding-request", "gzip" } }; // as OTLP exporters send by default
        if (token is not null)
            headers.Add("authorization", "Bearer " + token);
        if (tenant is not null)
            headers.Add("x-scope-orgid", tenant);
        return await channel.CreateCallInvoker().AsyncUnaryCall(Export, null, new CallOptions(headers, DateTime.UtcNow.AddSeconds(30)), request);
    }

    private async Task<long[]> MergedTotalsAsync(string service, string type) =>
        (await Collector.GetProfileAsync($"/api/0/profiles/merge?service={service}&type={type}&{AllTime}")).Totals();

    [Fact]
    public async Task A_go_profile_over_otlp_http_protobuf_is_found_under_its_service_with_the_resource_attributes_as_labels_and_merges_to_its_totals()
    {
        var service = CollectorInstance.NewServiceName("otlp");
        var request = Request(GoProfile(service, "cpu_1.pb.gz", ("service.version", "1.4"), ("cloud.region", "eu-west"), ("service.instance.id", "shop-7f9")));

        using var reply = await Collector.Http.PostAsync("/v1development/profiles", Protobuf(request.ToByteArray()));

        Assert.Equal(HttpStatusCode.OK, reply.StatusCode);
        Assert.Equal("application/x-protobuf", reply.Content.Headers.ContentType?.MediaType);
        Assert.Null(ExportProfilesServiceResponse.Parser.ParseFrom(await reply.Content.ReadAsByteArrayAsync()).PartialSuccess);
        var meta = Assert.Single(await Collector.FindAllAsync(service));
        Assert.Equal("cpu", meta.GetProperty("type").GetString());
        Assert.Equal("shop-7f9", meta.GetProperty("instance_id").GetString());
        Assert.Equal([("cloud.region", "eu-west"), ("otel.scope.name", "go.opentelemetry.io/collector/pprof"), ("otel.scope.version", "1.0"), ("service.version", "1.4")], Labels(meta));
        Assert.Equal(TestData.Totals["cpu_1.pb.gz"], await MergedTotalsAsync(service, "cpu"));
        var stored = await Collector.GetProfileAsync("/api/0/profiles/" + meta.GetProperty("id").GetString());
        Assert.Equal(TestData.Decode("cpu_1.pb.gz").TimeNanos, stored.TimeNanos);
    }

    [Fact]
    public async Task A_gzipped_json_request_is_taken_as_the_protobuf_one_is()
    {
        var service = CollectorInstance.NewServiceName("otlp-json");
        var json = JsonFormatter.Default.Format(Request(GoProfile(service, "heap_1.pb.gz")));
        var content = new ByteArrayContent(Gzip(System.Text.Encoding.UTF8.GetBytes(json)));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        content.Headers.ContentEncoding.Add("gzip");

        using var reply = await Collector.Http.PostAsync("/v1development/profiles", content);

        Assert.Equal(HttpStatusCode.OK, reply.StatusCode);
        Assert.Equal("{ }", (await reply.Content.ReadAsStringAsync()).Trim());
        Assert.Equal("heap", Assert.Single(await Collector.FindAllAsync(service)).GetProperty("type").GetString());
        Assert.Equal(TestData.Totals["heap_1.pb.gz"], await MergedTotalsAsync(service, "heap"));
    }

    [Fact]
    public async Task An_ebpf_profilers_cpu_samples_over_grpc_merge_to_their_count_and_cpu_time_with_the_hot_function_on_top()
    {
        var service = CollectorInstance.NewServiceName("ebpf");

        var response = await ExportGrpcAsync(Collector, Request(EbpfCpu(service)));

        Assert.Null(response.PartialSuccess);
        var meta = Assert.Single(await Collector.FindAllAsync(service));
        Assert.Equal("cpu", meta.GetProperty("type").GetString());
        Assert.Contains(("host.name", "node-1"), Labels(meta));
        Assert.Equal(new long[] { 40, 40 * EbpfPeriod }, await MergedTotalsAsync(service, "cpu"));
        var top = await CollectorInstance.ReadEnvelopeAsync(await Collector.GetAsync($"/api/0/ui/profile?service={service}&type=cpu&{AllTime}"));
        Assert.Contains("checksumOfTheBasket", top.GetRawText());
    }

    [Fact]
    public async Task A_request_that_points_outside_its_dictionary_is_refused_whole_with_an_otlp_status_over_http_and_grpc()
    {
        var service = CollectorInstance.NewServiceName("otlp-bad");
        var payloads = EbpfCpu(service);
        payloads.AddPprof(payloads.Data.ResourceProfiles[0].ScopeProfiles[0], TestData.Decode("goroutine.pb.gz"));
        payloads.Data.ResourceProfiles[0].ScopeProfiles[0].Profiles[0].Samples[0].StackIndex = 10_000;
        var request = Request(payloads);

        using var reply = await Collector.Http.PostAsync("/v1development/profiles", Protobuf(request.ToByteArray()));
        var failure = await Assert.ThrowsAsync<RpcException>(() => ExportGrpcAsync(Collector, request));

        Assert.Equal(HttpStatusCode.BadRequest, reply.StatusCode);
        var status = Google.Rpc.Status.Parser.ParseFrom(await reply.Content.ReadAsByteArrayAsync());
        Assert.Equal((int)StatusCode.InvalidArgument, status.Code);
        Assert.Contains("stack index 10000 is outside the dictionary", status.Message);
        Assert.Equal(StatusCode.InvalidArgument, failure.StatusCode);
        Assert.Contains("stack index 10000", failure.Status.Detail);
        Assert.Empty(await Collector.FindAllAsync(service)); // the goroutine profile beside it was not stored either
    }

    [Theory]
    [InlineData("text/plain", "", 415, "content type \"text/plain\"")]
    [InlineData("application/x-protobuf", "br", 415, "content encoding \"br\" is not supported")]
    [InlineData("application/x-protobuf", "", 400, "not an OTLP profiles export request")]
    public async Task A_body_that_is_not_an_export_request_gets_an_otlp_status(string contentType, string encoding, int expected, string message)
    {
        var content = new ByteArrayContent(TestData.Bytes("garbage.bin"));
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        if (encoding.Length > 0)
            content.Headers.ContentEncoding.Add(encoding);

        using var reply = await Collector.Http.PostAsync("/v1development/profiles", content);

        Assert.Equal(expected, (int)reply.StatusCode);
        var status = Google.Rpc.Status.Parser.ParseFrom(await reply.Content.ReadAsByteArrayAsync());
        Assert.Equal((int)StatusCode.InvalidArgument, status.Code);
        Assert.Contains(message, status.Message);
    }

    [Fact]
    public async Task A_gzip_bomb_is_stopped_where_it_inflates_past_the_request_limit()
    {
        var content = new ByteArrayContent(TestData.Bytes("gzip_bomb.gz")); // 2 GiB of zeros
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        content.Headers.ContentEncoding.Add("gzip");

        using var reply = await Collector.Http.PostAsync("/v1development/profiles", content);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, reply.StatusCode);
        Assert.Contains("(Collector:MaxDecodeMemory / 96", Google.Rpc.Status.Parser.ParseFrom(await reply.Content.ReadAsByteArrayAsync()).Message);
    }

    [Fact]
    public async Task Otlp_profiles_are_counted_by_protocol()
    {
        static async Task<double> CountedAsync(CollectorInstance collector)
        {
            var text = await collector.Http.GetStringAsync("/metrics");
            var line = text.Split('\n').SingleOrDefault(l => l.StartsWith("hotpath_profiles_received_total{protocol=\"otlp\"}", StringComparison.Ordinal));
            return line is null ? 0 : double.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        }

        var before = await CountedAsync(Collector);
        using var reply = await Collector.Http.PostAsync("/v1development/profiles", Protobuf(Request(EbpfCpu(CollectorInstance.NewServiceName("count"))).ToByteArray(), gzip: true));
        reply.EnsureSuccessStatusCode();

        Assert.Equal(before + 1, await CountedAsync(Collector));
    }

    [Fact]
    public async Task The_write_token_guards_both_transports_and_grpc_hears_unauthenticated()
    {
        await using var collector = await CollectorInstance.StartAsync("--Collector:OtlpGrpcAddress=127.0.0.1:0", "--Auth:WriteToken=w-secret");
        var service = CollectorInstance.NewServiceName("otlp-auth");
        var request = Request(EbpfCpu(service));

        using var anonymous = await collector.Http.PostAsync("/v1development/profiles", Protobuf(request.ToByteArray()));
        var refused = await Assert.ThrowsAsync<RpcException>(() => ExportGrpcAsync(collector, request));
        using var signed = new HttpRequestMessage(HttpMethod.Post, "/v1development/profiles") { Content = Protobuf(request.ToByteArray()) };
        signed.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "w-secret");
        using var accepted = await collector.Http.SendAsync(signed);
        await ExportGrpcAsync(collector, request, token: "w-secret");

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        Assert.Contains("missing or wrong bearer token", refused.Status.Detail);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Equal(2, (await collector.FindAllAsync(service)).Count);
    }

    [Fact]
    public async Task A_request_past_the_size_its_parse_may_take_is_refused_before_it_is_parsed_on_both_transports()
    {
        // 6 MiB of decode memory: requests of up to 64 KiB.
        await using var collector = await CollectorInstance.StartAsync("--Collector:OtlpGrpcAddress=127.0.0.1:0", "--Collector:MaxDecodeMemory=6291456");
        var payloads = GoProfile(CollectorInstance.NewServiceName("otlp-big"), "heap_1.pb.gz");
        var request = Request(payloads);
        Assert.True(request.CalculateSize() > 64 * 1024);

        using var reply = await collector.Http.PostAsync("/v1development/profiles", Protobuf(request.ToByteArray(), gzip: true));
        var refused = await Assert.ThrowsAsync<RpcException>(() => ExportGrpcAsync(collector, request));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, reply.StatusCode);
        var status = Google.Rpc.Status.Parser.ParseFrom(await reply.Content.ReadAsByteArrayAsync());
        Assert.Equal((int)StatusCode.ResourceExhausted, status.Code);
        Assert.Contains("inflates past the limit of 65536 bytes", status.Message);
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
    }
}
