using System.Net;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Testing;
using static Hotpath.Collector.Tests.PostProfileTests;

namespace Hotpath.Collector.Tests;

/// <summary>Inputs made to hurt the collector, each sent over real HTTP: none may crash it, hang it or get a 500.</summary>
public sealed class HostileInputTests(CollectorFixture fixture) : IClassFixture<CollectorFixture>
{
    private const string Always = "from=1970-01-01T00:00:00&to=2200-01-01T00:00:00";

    private CollectorInstance Collector => fixture.Collector;

    [Fact]
    public async Task A_stored_stack_of_fifteen_thousand_frames_is_viewed_with_its_deep_frames_folded_and_the_collector_lives_on()
    {
        var service = CollectorInstance.NewServiceName("deep");
        var deep = SyntheticProfiles.DeepStack(15_000);
        await Collector.PostOkAsync(service, "cpu", ProfileEncoder.ToGzipBytes(deep));

        foreach (var view in new[] { "profile", "diff" })
        {
            using var response = await Collector.GetAsync($"/api/0/ui/{view}?service={service}&type=cpu&{Always}");

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = (await CollectorInstance.ReadEnvelopeAsync(response)).GetProperty("body");
            Assert.Equal(FlameGraph.DefaultDepthLimit, body.GetProperty("depth_limit").GetInt32());
            Assert.Equal(view == "diff" ? 2 : 1, body.GetProperty("deep_stacks").GetInt64());
            var node = body.GetProperty("flame");
            var depth = 0;
            while (node.TryGetProperty("c", out var children))
            {
                node = Assert.Single(children.EnumerateArray());
                depth++;
            }

            Assert.Equal(FlameGraph.DefaultDepthLimit, depth);
            Assert.Equal(FlameGraph.Deeper, node.GetProperty("n").GetString());
            Assert.Equal(10, node.GetProperty("v").GetInt64());
        }

        Assert.Equal("ok\n", await Collector.Http.GetStringAsync("/healthz"));
    }

    [Fact]
    public async Task A_profile_without_sample_types_is_refused_at_ingest_saying_why()
    {
        var profile = TestData.Decode("cpu_1.pb.gz");
        profile.SampleType.Clear();
        foreach (var sample in profile.Sample)
            sample.Value.Clear();
        var service = CollectorInstance.NewServiceName("untyped");

        using var response = await Collector.PostAsync($"service={service}&type=cpu", ProfileEncoder.ToGzipBytes(profile));

        Assert.Equal("malformed profile (profile has no sample types: nothing says what its values measure)", await AssertError(response, 400));
        Assert.Empty(await Collector.FindAllAsync(service));
    }

    [Theory]
    [InlineData("9999-12-31T23:59:59")]
    [InlineData("0001-01-01T00:00:00")]
    [InlineData("2262-04-11T23:47:17Z")]
    [InlineData("1677-09-21T00:12:43Z")]
    public async Task A_created_at_that_nanoseconds_cannot_hold_is_refused_naming_the_parameter(string createdAt)
    {
        var service = CollectorInstance.NewServiceName("time");

        using var response = await Collector.PostAsync($"service={service}&type=cpu&created_at={createdAt}", ProfileBytes.WithTime("cpu_1.pb.gz", null));

        Assert.Equal($"bad request: bad \"created_at\" \"{createdAt}\": outside the times a profile can carry (1677-09-21T00:12:43Z to 2262-04-11T23:47:16Z)",
            await AssertError(response, 400));
        Assert.Empty(await Collector.FindAllAsync(service));
    }

    [Fact]
    public async Task Times_at_both_ends_of_the_range_are_stored_as_given_and_found_by_bounds_beyond_it()
    {
        var service = CollectorInstance.NewServiceName("ends");
        var untimed = ProfileBytes.WithTime("cpu_1.pb.gz", null);
        await Collector.PostOkAsync(service, "cpu", untimed, "&created_at=1677-09-21T00:12:44Z");
        await Collector.PostOkAsync(service, "cpu", untimed, "&created_at=2262-04-11T23:47:16");

        var everything = "from=1600-01-01T00:00:00&to=9999-12-31T23:59:59";
        using var found = await Collector.GetAsync($"/api/0/profiles?service={service}&{everything}");
        var times = (await CollectorInstance.ReadEnvelopeAsync(found)).GetProperty("body").EnumerateArray()
            .Select(p => p.GetProperty("created_at").GetString());
        Assert.Equal(["1677-09-21T00:12:44Z", "2262-04-11T23:47:16Z"], times);

        using var series = await Collector.GetAsync($"/api/0/ui/series?service={service}&{everything}&buckets=1000");
        Assert.Equal(HttpStatusCode.OK, series.StatusCode);
        var buckets = (await CollectorInstance.ReadEnvelopeAsync(series)).GetProperty("body").GetProperty("buckets").EnumerateArray().ToList();
        Assert.Equal(1000, buckets.Count);
        Assert.Equal(1, buckets[0].GetProperty("count").GetInt32());
        Assert.Equal(1, buckets[^1].GetProperty("count").GetInt32());
        Assert.Equal("1677-09-21T00:12:43Z", buckets[0].GetProperty("t").GetString());
    }

    [Theory]
    [InlineData("POST")]
    [InlineData("GET")]
    public async Task Labels_past_the_pair_limit_are_a_bad_request_on_write_and_find(string method)
    {
        var service = CollectorInstance.NewServiceName("pairs");
        var labels = string.Join(',', Enumerable.Range(0, 999).Select(i => $"k{i}=v"));

        using var response = method == "POST"
            ? await Collector.PostAsync($"service={service}&type=cpu&labels={labels}", TestData.Bytes("cpu_1.pb.gz"))
            : await Collector.GetAsync($"/api/0/profiles?service={service}&{Always}&labels={labels}");

        Assert.Equal("bad request: bad \"labels\": 999 pairs, at most 64 are allowed", await AssertError(response, 400));
    }

    [Fact]
    public async Task A_filter_of_sixty_four_pairs_finds_exactly_the_profiles_that_have_them_all_and_honours_the_limit()
    {
        var service = CollectorInstance.NewServiceName("many");
        var all = string.Join(',', Enumerable.Range(0, 64).Select(i => $"k{i:D2}=v"));
        var allButOne = string.Join(',', Enumerable.Range(0, 63).Select(i => $"k{i:D2}=v")) + ",k63=other";
        var body = ProfileBytes.WithTime("cpu_1.pb.gz", null);
        for (var i = 0; i < 3; i++)
            await Collector.PostOkAsync(service, "cpu", body, $"&labels={all}&created_at=2026-01-01T00:00:0{i}");
        await Collector.PostOkAsync(service, "cpu", body, $"&labels={allButOne}&created_at=2026-01-01T00:00:05");

        using var found = await Collector.GetAsync($"/api/0/profiles?service={service}&{Always}&labels={all}");
        using var newest = await Collector.GetAsync($"/api/0/profiles?service={service}&{Always}&labels={all}&limit=2");

        Assert.Equal(3, (await CollectorInstance.ReadEnvelopeAsync(found)).GetProperty("body").GetArrayLength());
        Assert.Equal(["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"],
            (await CollectorInstance.ReadEnvelopeAsync(newest)).GetProperty("body").EnumerateArray().Select(p => p.GetProperty("created_at").GetString()));
    }

    [Theory]
    [InlineData("GET", "/nope")]
    [InlineData("POST", "/push")]
    [InlineData("GET", "/ui/nope.js")]
    [InlineData("GET", "/favicon.ico")]
    [InlineData("POST", "/healthz/more")]
    public async Task Unknown_routes_outside_the_api_answer_the_json_404_naming_the_route(string method, string path)
    {
        using var response = await Collector.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Equal($"nothing found: no route answers {method} {path}", await AssertError(response, 404));
    }

    [Theory]
    [InlineData("GET", "/api/0/nonexistent")]
    [InlineData("DELETE", "/api/0/profiles")]
    public async Task Unknown_routes_of_the_api_keep_profefes_text_and_name_the_route_in_a_hint(string method, string path)
    {
        using var response = await Collector.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        await AssertError(response, 404, "nothing found");
        Assert.Equal($"no API route answers {method} {path}", (await CollectorInstance.ReadEnvelopeAsync(response)).GetProperty("hint").GetString());
    }

    [Fact]
    public async Task A_request_line_of_ten_kilobytes_reaches_the_api_and_gets_its_envelope()
    {
        var ids = string.Join('+', Enumerable.Range(0, 600).Select(i => $"{i:D16}"));

        using var response = await Collector.GetAsync($"/api/0/profiles/{ids}");

        Assert.Equal("nothing found: no profile with id \"0000000000000000\"", await AssertError(response, 404));
    }

    [Theory]
    [InlineData("strings")]
    [InlineData("locations")]
    [InlineData("claimed")]
    public async Task A_decompression_bomb_of_tiny_elements_is_refused_with_413_naming_the_limit_it_passed(string kind)
    {
        var body = kind switch
        {
            // Inside the decompressed size limit (64 MiB), past the decode memory limit (256 MiB) once decoded.
            "strings" => HostileProfiles.EmptyStrings(25_000_000),
            "locations" => HostileProfiles.LocationReferences(50_000_000),
            _ => HostileProfiles.ClaimedString(300_000_000),
        };
        var service = CollectorInstance.NewServiceName("bomb");

        using var response = await Collector.PostAsync($"service={service}&type=cpu", body);

        var error = await AssertError(response, 413);
        Assert.Contains(kind == "claimed" ? "(Collector:MaxDecompressedSize)" : "(Collector:MaxDecodeMemory)", error);
        Assert.Empty(await Collector.FindAllAsync(service));
    }

    [Fact]
    public async Task While_decodes_in_flight_hold_the_decode_budget_a_post_gets_503_to_retry_and_succeeds_after()
    {
        await using var collector = await CollectorInstance.StartAsync("--Collector:MaxDecodeMemory=16777216", "--Collector:DecodeMemoryBudget=16777216");
        var decoder = (ProfileDecoder)collector.Services.GetService(typeof(ProfileDecoder))!;
        var held = new List<RawProfile>();
        // Decodes that stay in flight until the budget is spent: large ones first, then ones the size of the post.
        foreach (var profile in new[] { ProfileEncoder.ToGzipBytes(SyntheticProfiles.ManyStacks(5_000)), TestData.Bytes("cpu_1.pb.gz") })
        {
            for (var tries = 0; tries < 1000; tries++)
            {
                var raw = new RawProfile();
                try
                {
                    decoder.Load(profile, raw);
                    held.Add(raw);
                }
                catch (DecodeBudgetExhaustedException)
                {
                    ProfileDecoder.Release(raw);
                    break;
                }
            }
        }

        using (var busy = await collector.PostAsync("service=busy&type=cpu", TestData.Bytes("cpu_1.pb.gz")))
        {
            Assert.StartsWith("busy: profiles being decoded hold the whole decode memory budget of 16777216 bytes", await AssertError(busy, 503));
            Assert.Equal("1", busy.Headers.RetryAfter?.ToString());
        }

        Assert.InRange(held.Count, 2, 999);
        held.ForEach(ProfileDecoder.Release);
        await collector.PostOkAsync("busy", "cpu", TestData.Bytes("cpu_1.pb.gz"));
    }
}
