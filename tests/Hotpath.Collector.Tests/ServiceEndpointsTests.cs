using System.Net;
using System.Net.Http.Headers;
using Hotpath.Pprof;
using Hotpath.Testing;
using static Hotpath.Collector.Tests.PostProfileTests;

namespace Hotpath.Collector.Tests;

public sealed class ServiceEndpointsTests
{
    [Fact]
    public async Task An_empty_store_lists_no_services_with_a_404_then_lists_them_sorted_including_trace_only_ones()
    {
        await using var collector = await CollectorInstance.StartAsync();
        using (var empty = await collector.GetAsync("/api/0/services"))
            await AssertError(empty, 404, "nothing found");

        await collector.PostOkAsync("zeta", "cpu", TestData.Bytes("cpu_1.pb.gz"));
        await collector.PostOkAsync("alpha", "trace", TestData.Bytes("trace.out"));
        await collector.PostOkAsync("Beta", "heap", TestData.Bytes("heap_1.pb.gz"));

        using var response = await collector.GetAsync("/api/0/services");
        var body = (await CollectorInstance.ReadEnvelopeAsync(response)).GetProperty("body");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(["Beta", "alpha", "zeta"], body.EnumerateArray().Select(s => s.GetString()));
    }

    [Fact]
    public async Task Version_names_the_version_commit_and_build_time()
    {
        await using var collector = await CollectorInstance.StartAsync();

        using var response = await collector.GetAsync("/api/0/version");

        var body = (await CollectorInstance.ReadEnvelopeAsync(response)).GetProperty("body");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Matches(@"^\d+\.\d+\.\d+", body.GetProperty("version").GetString());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("commit").GetString()));
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", body.GetProperty("build_time").GetString());
    }

    [Fact]
    public async Task Unknown_paths_under_the_api_are_a_json_404()
    {
        await using var collector = await CollectorInstance.StartAsync();

        using var response = await collector.GetAsync("/api/0/nonexistent");

        await AssertError(response, 404, "nothing found");
    }

    [Fact]
    public async Task Healthz_answers_ok()
    {
        await using var collector = await CollectorInstance.StartAsync();

        Assert.Equal("ok\n", await collector.Http.GetStringAsync("/healthz"));
    }

    [Fact]
    public async Task Metrics_count_requests_by_route_and_status_profiles_by_type_and_bytes_received()
    {
        await using var collector = await CollectorInstance.StartAsync();
        var body = TestData.Bytes("cpu_1.pb.gz");
        await collector.PostOkAsync("svc", "cpu", body);
        await collector.PostOkAsync("svc", "cpu", body);
        using (await collector.PostAsync("service=svc&type=cpu", TestData.Bytes("garbage.bin"))) { }
        using (await collector.GetAsync("/api/0/profiles/merge?service=svc&type=cpu&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00")) { }

        var metrics = await collector.Http.GetStringAsync("/metrics");

        Assert.Contains("hotpath_http_requests_total{route=\"/api/0/profiles\",method=\"POST\",code=\"200\"} 2", metrics);
        Assert.Contains("hotpath_http_requests_total{route=\"/api/0/profiles\",method=\"POST\",code=\"400\"} 1", metrics);
        Assert.Contains("hotpath_profiles_written_total{type=\"cpu\"} 2", metrics);
        Assert.Contains($"hotpath_received_bytes_total {2 * body.Length + TestData.Bytes("garbage.bin").Length}", metrics);
        Assert.Contains("hotpath_merge_duration_seconds_count 1", metrics);
        Assert.Matches(@"hotpath_store_size_bytes [1-9]\d*", metrics);
    }

    [Fact]
    public async Task With_tokens_configured_writes_and_reads_need_their_own_bearer_token()
    {
        await using var collector = await CollectorInstance.StartAsync("--Auth:WriteToken=w-secret", "--Auth:ReadToken=r-secret");
        var body = TestData.Bytes("cpu_1.pb.gz");

        using (var anonymous = await collector.PostAsync("service=s&type=cpu", body))
            await AssertError(anonymous, 401, "unauthorized: missing or wrong bearer token");
        using (var readTokenOnWrite = await collector.PostAsync("service=s&type=cpu", body, token: "r-secret"))
            await AssertError(readTokenOnWrite, 401);
        using (var written = await collector.PostAsync("service=s&type=cpu", body, token: "w-secret"))
            Assert.Equal(HttpStatusCode.OK, written.StatusCode);

        using (var anonymousRead = await collector.GetAsync("/api/0/services"))
        {
            await AssertError(anonymousRead, 401);
            Assert.Equal("Bearer", anonymousRead.Headers.WwwAuthenticate.ToString());
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/0/services");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "r-secret");
        using var read = await collector.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Equal("ok\n", await collector.Http.GetStringAsync("/healthz"));
    }

    [Fact]
    public async Task A_body_over_the_size_limit_is_refused_with_413_naming_the_limit()
    {
        await using var collector = await CollectorInstance.StartAsync("--Collector:MaxBodySize=4096");

        using var response = await collector.PostAsync("service=s&type=cpu", TestData.Bytes("cpu_1.pb.gz"));

        Assert.Contains("4096", await AssertError(response, 413));
    }

    [Fact]
    public async Task A_body_over_the_size_limit_sent_chunked_is_refused_with_413()
    {
        await using var collector = await CollectorInstance.StartAsync("--Collector:MaxBodySize=4096");
        using var content = new StreamContent(new MemoryStream(TestData.Bytes("cpu_1.pb.gz")));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/0/profiles?service=s&type=cpu") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        using var response = await collector.Http.SendAsync(request);

        Assert.Contains("4096", await AssertError(response, 413));
    }

    [Fact]
    public async Task A_profile_inflating_past_the_decompressed_limit_is_refused_with_413()
    {
        await using var collector = await CollectorInstance.StartAsync("--Collector:MaxDecompressedSize=4096");

        using var response = await collector.PostAsync("service=s&type=cpu", TestData.Bytes("cpu_1.pb.gz"));

        Assert.Contains("decompressed size limit of 4096", await AssertError(response, 413));
    }

    [Fact]
    public async Task A_range_past_the_profile_limit_is_merged_whole_and_only_a_limit_past_it_is_refused()
    {
        // Written just now: their minutes' pieces are not built, so the range's merge decodes all three.
        await using var collector = await CollectorInstance.StartAsync("--Collector:MaxProfilesPerMerge=2");
        for (var i = 0; i < 3; i++)
            await collector.PostOkAsync("s", "cpu", TestData.Bytes(TestData.CpuProfiles[i]));
        const string Query = "/api/0/profiles/merge?service=s&type=cpu&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00";

        var whole = await collector.GetProfileAsync(Query);
        using var tooMany = await collector.GetAsync(Query + "&limit=3");
        using var limited = await collector.GetAsync(Query + "&limit=2");

        Assert.Equal(TestData.Sum(TestData.CpuProfiles.Take(3).Select(f => TestData.Totals[f])), whole.Totals());
        var refusal = await AssertError(tooMany, 400);
        Assert.Contains("limit=3 asks for more than 2 profiles", refusal);
        Assert.Contains("or none to merge the whole range", refusal);
        Assert.Equal(HttpStatusCode.OK, limited.StatusCode);
    }

    [Fact]
    public async Task Invalid_settings_stop_the_collector_at_start()
    {
        await Assert.ThrowsAnyAsync<Exception>(() => CollectorInstance.StartAsync("--Collector:MaxProfilesPerMerge=0"));
        await Assert.ThrowsAnyAsync<Exception>(() => CollectorInstance.StartAsync("--Storage:Type=cassandra"));
    }
}
