using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Hotpath.Pprof;
using Hotpath.Testing;
using static Hotpath.Collector.Tests.PostProfileTests;

namespace Hotpath.Collector.Tests;

/// <summary>Pyroscope's /ingest over real HTTP, in the shapes its SDKs send.</summary>
public sealed class PyroscopeIngestTests(CollectorFixture fixture) : IClassFixture<CollectorFixture>
{
    private CollectorInstance Collector => fixture.Collector;

    private const string AllTime = "from=2000-01-01T00:00:00&to=2100-01-01T00:00:00";

    private async Task<HttpResponseMessage> IngestAsync(string query, HttpContent body, string path = "/ingest") =>
        await Collector.Http.PostAsync($"{path}?{query}", body);

    private static ByteArrayContent Octets(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return content;
    }

    [Fact]
    public async Task A_nodejs_style_pprof_without_a_type_suffix_is_stored_verbatim_with_its_type_from_the_sample_types_and_its_labels()
    {
        var service = CollectorInstance.NewServiceName("node");
        var name = Uri.EscapeDataString($"{service}{{otel.scope.name=com.grafana.pyroscope/nodejs,region=eu}}");
        var cpu = TestData.Bytes("cpu_1.pb.gz");
        var heap = TestData.Bytes("heap_1.pb.gz");

        using (var reply = await IngestAsync($"format=pprof&from=1764000000&until=1764000010&name={name}&spyName=nodespy&sampleRate=100", Octets(cpu)))
        {
            Assert.Equal(HttpStatusCode.OK, reply.StatusCode);
            Assert.Empty(await reply.Content.ReadAsByteArrayAsync());
        }

        using (var reply = await IngestAsync($"format=pprof&from=1764000000&until=1764000010&name={name}&spyName=nodespy", Octets(heap), "/pyroscope/ingest"))
            Assert.Equal(HttpStatusCode.OK, reply.StatusCode);

        var found = await Collector.FindAllAsync(service);
        Assert.Equal(["cpu", "heap"], found.Select(m => m.GetProperty("type").GetString()).Order());
        Assert.All(found, m => Assert.Equal(
            [("otel.scope.name", "com.grafana.pyroscope/nodejs"), ("pyroscope_spy", "nodespy"), ("region", "eu")], Labels(m)));
        var cpuId = found.Single(m => m.GetProperty("type").GetString() == "cpu").GetProperty("id").GetString();
        Assert.Equal(cpu, await Collector.Http.GetByteArrayAsync("/api/0/profiles/" + cpuId));
    }

    [Fact]
    public async Task A_go_style_multipart_pprof_takes_its_type_from_the_name_suffix()
    {
        var service = CollectorInstance.NewServiceName("go");
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(TestData.Bytes("heap_1.pb.gz")), "profile", "profile.pprof");
        form.Add(new StringContent("""{"alloc_space":{"units":"bytes","aggregation":"sum","cumulative":true}}"""), "sample_type_config", "sample_type_config.json");

        using var reply = await IngestAsync($"format=pprof&name={Uri.EscapeDataString(service + ".alloc_space{env=prod}")}", form);

        Assert.Equal(HttpStatusCode.OK, reply.StatusCode);
        var meta = Assert.Single(await Collector.FindAllAsync(service));
        Assert.Equal("heap", meta.GetProperty("type").GetString());
        Assert.Equal([("env", "prod")], Labels(meta));
    }

    [Fact]
    public async Task Folded_text_becomes_a_pprof_whose_totals_are_the_counts_times_the_sampling_period()
    {
        var service = CollectorInstance.NewServiceName("folded");
        const string Text = "main;work;checksum 30\nmain;work;parse 10\nmain;idle 5\nmain;work;checksum 2\n";

        using (var reply = await IngestAsync($"name={service}.cpu%7Bhost%3Da%7D&sampleRate=100&from=1764000000", new StringContent(Text)))
            Assert.Equal(HttpStatusCode.OK, reply.StatusCode);
        using (var reply = await IngestAsync($"name={service}.wall&format=lines&sampleRate=50", new StringContent("main;sleep\nmain;sleep\nmain;work\n")))
            Assert.Equal(HttpStatusCode.OK, reply.StatusCode);

        var cpu = await Collector.GetProfileAsync($"/api/0/profiles/merge?service={service}&type=cpu&{AllTime}");
        Assert.Equal([47, 47 * 10_000_000L], cpu.Totals());
        Assert.Equal(["samples/count", "cpu/nanoseconds"], cpu.SampleTypeNames());
        var top = Pprof.Analysis.TopTable.Build(cpu, 1);
        Assert.Equal("checksum", top.Rows[0].Function);
        var created = (await Collector.FindAllAsync(service)).Single(m => m.GetProperty("type").GetString() == "cpu").GetProperty("created_at").GetString();
        Assert.StartsWith("2025-11-24T16:00:00", created);

        var wall = await Collector.GetProfileAsync($"/api/0/profiles/merge?service={service}&type=wall&from=now-1h&to=now");
        Assert.Equal([3, 3 * 20_000_000L], wall.Totals());
    }

    public static TheoryData<string, string, int, string> Refusals => new()
    {
        { "format=pprof", "not a profile", 400, "bad request: missing \"name\"" },
        { "format=pprof&name=app", "not a profile", 422, "malformed profile" },
        { "name=app.cpu", "main;work many\n", 422, "malformed profile" },
        { "name=app.cpu&format=jfr", "JFR", 415, "format=jfr is not supported" },
        { "name=app.cpu&format=trie", "x", 415, "format \"trie\" is not supported" },
        { "name=app.cpu&from=yesterday", "main 1", 400, "bad request: bad \"from\"" },
        { "name=app.cpu&sampleRate=0", "main 1", 400, "bad request: bad \"sampleRate\"" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task A_request_pyroscope_would_refuse_gets_a_4xx_that_says_why(string query, string body, int status, string reason)
    {
        using var reply = await IngestAsync(query, new StringContent(body, Encoding.UTF8));

        Assert.StartsWith(reason, await AssertError(reply, status));
    }
}

/// <summary>Pyroscope's push API (Connect over HTTP/1.1), in protobuf and JSON, as Grafana Alloy's pyroscope.write sends it.</summary>
public sealed class PyroscopePushTests(CollectorFixture fixture) : IClassFixture<CollectorFixture>
{
    private CollectorInstance Collector => fixture.Collector;

    private static Pprof.Pyroscope.RawProfileSeries Series(string service, string name, string file, params (string Name, string Value)[] labels)
    {
        var series = new Pprof.Pyroscope.RawProfileSeries();
        series.Labels.Add(new Pprof.Pyroscope.LabelPair { Name = "service_name", Value = service });
        series.Labels.Add(new Pprof.Pyroscope.LabelPair { Name = "__name__", Value = name });
        series.Labels.Add(new Pprof.Pyroscope.LabelPair { Name = "__session_id__", Value = "7c1f" });
        foreach (var (key, value) in labels)
            series.Labels.Add(new Pprof.Pyroscope.LabelPair { Name = key, Value = value });
        series.Samples.Add(new Pprof.Pyroscope.RawSample { RawProfile = Google.Protobuf.ByteString.CopyFrom(TestData.Bytes(file)), ID = Guid.NewGuid().ToString() });
        return series;
    }

    private async Task<HttpResponseMessage> PushAsync(Pprof.Pyroscope.PushRequest request, bool json)
    {
        HttpContent content = json
            ? new StringContent(Google.Protobuf.JsonFormatter.Default.Format(request), Encoding.UTF8, "application/json")
            : new ByteArrayContent(Google.Protobuf.MessageExtensions.ToByteArray(request));
        if (!json)
            content.Headers.ContentType = new MediaTypeHeaderValue("application/proto");
        return await Collector.Http.PostAsync("/push.v1.PusherService/Push", content);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_push_of_several_series_stores_each_sample_under_its_service_type_and_labels(bool json)
    {
        var service = CollectorInstance.NewServiceName("alloy");
        var request = new Pprof.Pyroscope.PushRequest();
        request.Series.Add(Series(service, "process_cpu", "cpu_1.pb.gz", ("env", "prod")));
        request.Series.Add(Series(service, "memory", "heap_1.pb.gz", ("env", "prod")));

        using var reply = await PushAsync(request, json);

        Assert.Equal(HttpStatusCode.OK, reply.StatusCode);
        var found = await Collector.FindAllAsync(service);
        Assert.Equal(["cpu", "heap"], found.Select(m => m.GetProperty("type").GetString()).Order());
        Assert.All(found, m => Assert.Equal([("env", "prod")], Labels(m))); // Pyroscope's own __labels__ are not kept
        var cpu = found.Single(m => m.GetProperty("type").GetString() == "cpu").GetProperty("id").GetString();
        Assert.Equal(TestData.Bytes("cpu_1.pb.gz"), await Collector.Http.GetByteArrayAsync("/api/0/profiles/" + cpu));
    }

    [Fact]
    public async Task A_push_with_one_bad_sample_is_refused_in_connects_shape_and_stores_none_of_its_samples()
    {
        var service = CollectorInstance.NewServiceName("alloy-bad");
        var request = new Pprof.Pyroscope.PushRequest();
        request.Series.Add(Series(service, "process_cpu", "cpu_1.pb.gz"));
        request.Series.Add(Series(service, "process_cpu", "not_gzip.pb"));
        request.Series[1].Samples[0].RawProfile = Google.Protobuf.ByteString.CopyFromUtf8("not a profile at all");

        using var reply = await PushAsync(request, json: false);

        Assert.Equal(HttpStatusCode.BadRequest, reply.StatusCode);
        using var error = System.Text.Json.JsonDocument.Parse(await reply.Content.ReadAsStringAsync());
        Assert.Equal("invalid_argument", error.RootElement.GetProperty("code").GetString());
        Assert.StartsWith("malformed profile", error.RootElement.GetProperty("message").GetString());
        using var none = await Collector.GetAsync($"/api/0/profiles?service={service}&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00");
        Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
    }

    [Fact]
    public async Task A_gzipped_push_is_inflated_as_connect_clients_compress_it()
    {
        var service = CollectorInstance.NewServiceName("alloy-gzip");
        var request = new Pprof.Pyroscope.PushRequest();
        request.Series.Add(Series(service, "process_cpu", "not_gzip.pb"));
        using var buffer = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(buffer, System.IO.Compression.CompressionLevel.Fastest))
            gzip.Write(Google.Protobuf.MessageExtensions.ToByteArray(request));
        var content = new ByteArrayContent(buffer.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/proto");
        content.Headers.ContentEncoding.Add("gzip");

        using var reply = await Collector.Http.PostAsync("/push.v1.PusherService/Push", content);

        Assert.Equal(HttpStatusCode.OK, reply.StatusCode);
        var id = Assert.Single(await Collector.FindAllAsync(service)).GetProperty("id").GetString();
        Assert.Equal(TestData.Bytes("not_gzip.pb"), await Collector.Http.GetByteArrayAsync("/api/0/profiles/" + id));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_push_sent_again_while_or_after_it_is_stored_stores_each_sample_once(bool sampleIds)
    {
        var service = CollectorInstance.NewServiceName("alloy-retry");
        var request = new Pprof.Pyroscope.PushRequest();
        for (var i = 0; i < 500; i++)
        {
            var series = Series(service, "process_cpu", TestData.CpuProfiles[i % 3], ("series", i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            if (!sampleIds)
                series.Samples[0].ID = "";
            request.Series.Add(series);
        }

        // Twice at once (a client that gave up and retried while the first was still being stored), then again.
        var replies = await Task.WhenAll(PushAsync(request, json: false), PushAsync(request, json: false));
        using var again = await PushAsync(request, json: true);

        Assert.All(replies, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        var found = await Collector.FindAllAsync(service);
        Assert.Equal(500, found.Count);
        Assert.Equal(500, found.Select(m => Labels(m).Single().Item2).Distinct().Count());
    }
}
