using System.Net;
using Hotpath.Pprof;
using Hotpath.Testing;
using static Hotpath.Collector.Tests.PostProfileTests;

namespace Hotpath.Collector.Tests;

public sealed class MergeAndGetTests(CollectorFixture fixture) : IClassFixture<CollectorFixture>
{
    private static readonly DateTimeOffset T0 = new(2026, 10, 1, 8, 0, 0, TimeSpan.Zero);
    private static readonly string Window = $"from={ProfileBytes.Format(T0)}&to={ProfileBytes.Format(T0.AddHours(1))}";

    private CollectorInstance Collector => fixture.Collector;

    private async Task<string> PostAt(string service, string type, string file, int seconds, string labels = "") =>
        (await Collector.PostOkAsync(service, type, ProfileBytes.WithTime(file, T0.AddSeconds(seconds)),
            labels.Length > 0 ? "&labels=" + Uri.EscapeDataString(labels) : "")).GetProperty("id").GetString()!;

    [Fact]
    public async Task Merging_three_cpu_profiles_sums_every_sample_type_into_one_gzipped_download()
    {
        var service = CollectorInstance.NewServiceName();
        for (var i = 0; i < 3; i++)
            await PostAt(service, "cpu", TestData.CpuProfiles[i], i);

        using var response = await Collector.GetAsync($"/api/0/profiles/merge?service={service}&type=cpu&{Window}");
        var bytes = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("attachment; filename=\"cpu\"", response.Content.Headers.ContentDisposition?.ToString());
        Assert.True(ProfileDecoder.IsGzip(bytes));
        var merged = new ProfileDecoder().Decode(bytes);
        Assert.Equal(TestData.Sum(TestData.CpuProfiles.Select(f => TestData.Totals[f])), merged.Totals());
        Assert.Equal(T0, DateTimeOffset.UnixEpoch.AddTicks(merged.TimeNanos / 100));
    }

    [Fact]
    public async Task Aggregation_avg_averages_in_use_snapshots_per_instance_and_sums_allocations_and_instances()
    {
        var service = CollectorInstance.NewServiceName();
        for (var i = 0; i < 3; i++)
            await Collector.PostOkAsync(service, "heap", ProfileBytes.WithTime("heap_1.pb.gz", T0.AddSeconds(i)), "&instance_id=a");
        await Collector.PostOkAsync(service, "heap", ProfileBytes.WithTime("heap_2.pb.gz", T0.AddSeconds(5)), "&instance_id=b");
        var one = TestData.Totals["heap_1.pb.gz"];
        var other = TestData.Totals["heap_2.pb.gz"];

        var summed = await Collector.GetProfileAsync($"/api/0/profiles/merge?service={service}&type=heap&{Window}");
        var averaged = await Collector.GetProfileAsync($"/api/0/profiles/merge?service={service}&type=heap&{Window}&aggregation=avg");

        // alloc_objects, alloc_space, inuse_objects, inuse_space: three snapshots of a read once, plus b's one.
        Assert.Equal(TestData.Sum([one, one, one, other]), summed.Totals());
        Assert.Equal([3 * one[0] + other[0], 3 * one[1] + other[1], one[2] + other[2], one[3] + other[3]], averaged.Totals());
    }

    [Fact]
    public async Task Aggregation_avg_of_a_type_without_gauges_is_its_sum()
    {
        var service = CollectorInstance.NewServiceName();
        await Collector.PostOkAsync(service, "cpu", ProfileBytes.WithTime("cpu_1.pb.gz", T0), "&instance_id=a");
        await Collector.PostOkAsync(service, "cpu", ProfileBytes.WithTime("cpu_2.pb.gz", T0.AddSeconds(1)), "&instance_id=b");

        var averaged = await Collector.GetProfileAsync($"/api/0/profiles/merge?service={service}&type=cpu&{Window}&aggregation=avg");

        Assert.Equal(TestData.Sum([TestData.Totals["cpu_1.pb.gz"], TestData.Totals["cpu_2.pb.gz"]]), averaged.Totals());
    }

    [Fact]
    public async Task The_ui_averages_gauges_by_default_and_says_so_and_sums_when_asked()
    {
        var service = CollectorInstance.NewServiceName();
        for (var i = 0; i < 3; i++)
            await Collector.PostOkAsync(service, "goroutine", ProfileBytes.WithTime("goroutine.pb.gz", T0.AddSeconds(i)), "&instance_id=a");
        var snapshot = TestData.Totals["goroutine.pb.gz"][0];

        using var byDefault = await Collector.GetAsync($"/api/0/ui/profile?service={service}&type=goroutine&{Window}");
        using var summed = await Collector.GetAsync($"/api/0/ui/profile?service={service}&type=goroutine&{Window}&aggregation=sum");
        var average = (await CollectorInstance.ReadEnvelopeAsync(byDefault)).GetProperty("body");
        var sum = (await CollectorInstance.ReadEnvelopeAsync(summed)).GetProperty("body");

        Assert.Equal((snapshot, "avg"), (average.GetProperty("total").GetInt64(), average.GetProperty("aggregation").GetString()));
        Assert.Equal((3 * snapshot, "sum"), (sum.GetProperty("total").GetInt64(), sum.GetProperty("aggregation").GetString()));
    }

    [Fact]
    public async Task An_unknown_aggregation_is_a_bad_request()
    {
        using var response = await Collector.GetAsync($"/api/0/profiles/merge?service=s&type=heap&{Window}&aggregation=max");

        await AssertError(response, 400, "bad request: bad \"aggregation\" \"max\": sum or avg");
    }

    [Fact]
    public async Task Merging_heap_profiles_sums_all_four_sample_types()
    {
        var service = CollectorInstance.NewServiceName();
        await PostAt(service, "heap", "heap_1.pb.gz", 1);
        await PostAt(service, "heap", "heap_2.pb.gz", 2);

        var merged = await Collector.GetProfileAsync($"/api/0/profiles/merge?service={service}&type=heap&{Window}");

        Assert.Equal(TestData.Sum(TestData.HeapProfiles.Select(f => TestData.Totals[f])), merged.Totals());
    }

    [Fact]
    public async Task Merge_selects_by_type_labels_time_and_limit_like_find()
    {
        var service = CollectorInstance.NewServiceName();
        await PostAt(service, "cpu", "cpu_1.pb.gz", 1, "v=1");
        await PostAt(service, "cpu", "cpu_2.pb.gz", 2, "v=2");
        await PostAt(service, "cpu", "cpu_3.pb.gz", 3, "v=2");
        await PostAt(service, "heap", "heap_1.pb.gz", 2, "v=2");
        await PostAt(service, "cpu", "cpu_1.pb.gz", 7200, "v=2"); // outside the window

        var byLabel = await Collector.GetProfileAsync($"/api/0/profiles/merge?service={service}&type=cpu&{Window}&labels=v%3D2");
        var newest = await Collector.GetProfileAsync($"/api/0/profiles/merge?service={service}&type=cpu&{Window}&limit=1");

        Assert.Equal(TestData.Sum([TestData.Totals["cpu_2.pb.gz"], TestData.Totals["cpu_3.pb.gz"]]), byLabel.Totals());
        Assert.Equal(TestData.Totals["cpu_3.pb.gz"], newest.Totals());
    }

    [Fact]
    public async Task An_uncompressed_stored_profile_merges_with_gzipped_ones()
    {
        var service = CollectorInstance.NewServiceName();
        await Collector.PostOkAsync(service, "cpu", TestData.Bytes("not_gzip.pb"));
        await Collector.PostOkAsync(service, "cpu", TestData.Bytes("cpu_2.pb.gz"));

        var merged = await Collector.GetProfileAsync($"/api/0/profiles/merge?service={service}&type=cpu&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00");

        Assert.Equal(TestData.Totals["cpu_2.pb.gz"].Select(v => v * 2), merged.Totals());
    }

    [Fact]
    public async Task Merge_needs_a_known_type_that_is_not_trace()
    {
        using var none = await Collector.GetAsync($"/api/0/profiles/merge?service=s&{Window}");
        using var bogus = await Collector.GetAsync($"/api/0/profiles/merge?service=s&type=bogus&{Window}");
        using var trace = await Collector.GetAsync($"/api/0/profiles/merge?service=s&type=trace&{Window}");

        await AssertError(none, 405, "can't merge profiles of unknown type");
        await AssertError(bogus, 405, "can't merge profiles of unknown type");
        await AssertError(trace, 405, "can't merge profiles of trace type");
    }

    [Fact]
    public async Task Merging_nothing_is_a_404()
    {
        using var response = await Collector.GetAsync($"/api/0/profiles/merge?service={CollectorInstance.NewServiceName()}&type=cpu&{Window}");

        await AssertError(response, 404, "nothing found");
    }

    [Fact]
    public async Task Profiles_stored_under_one_type_with_clashing_contents_are_refused_with_a_400()
    {
        var service = CollectorInstance.NewServiceName();
        await PostAt(service, "cpu", "cpu_1.pb.gz", 1);
        await PostAt(service, "cpu", "heap_1.pb.gz", 2); // the type is not checked against the content

        using var response = await Collector.GetAsync($"/api/0/profiles/merge?service={service}&type=cpu&{Window}");

        Assert.StartsWith("bad request: profiles cannot be merged: incompatible", await AssertError(response, 400));
    }

    [Fact]
    public async Task Get_by_id_returns_the_stored_bytes_as_a_download_named_by_the_id()
    {
        var bytes = TestData.Bytes("mutex.pb.gz");
        var id = (await Collector.PostOkAsync(CollectorInstance.NewServiceName(), "mutex", bytes)).GetProperty("id").GetString()!;

        using var response = await Collector.GetAsync("/api/0/profiles/" + id);

        Assert.Equal(bytes, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal($"attachment; filename=\"{id}\"", response.Content.Headers.ContentDisposition?.ToString());
    }

    [Theory]
    [InlineData("+")]
    [InlineData("%2B")]
    [InlineData("%2b")]
    public async Task Several_ids_joined_by_plus_are_merged(string plus)
    {
        var service = CollectorInstance.NewServiceName();
        var ids = new List<string>();
        foreach (var file in TestData.CpuProfiles)
            ids.Add((await Collector.PostOkAsync(service, "cpu", TestData.Bytes(file))).GetProperty("id").GetString()!);

        var merged = await Collector.GetProfileAsync("/api/0/profiles/" + string.Join(plus, ids));

        Assert.Equal(TestData.Sum(TestData.CpuProfiles.Select(f => TestData.Totals[f])), merged.Totals());
    }

    [Fact]
    public async Task Ids_of_different_types_or_of_traces_do_not_merge()
    {
        var service = CollectorInstance.NewServiceName();
        var cpu = (await Collector.PostOkAsync(service, "cpu", TestData.Bytes("cpu_1.pb.gz"))).GetProperty("id").GetString();
        var heap = (await Collector.PostOkAsync(service, "heap", TestData.Bytes("heap_1.pb.gz"))).GetProperty("id").GetString();
        var trace = (await Collector.PostOkAsync(service, "trace", TestData.Bytes("trace.out"))).GetProperty("id").GetString();

        using var mixed = await Collector.GetAsync($"/api/0/profiles/{cpu}+{heap}");
        using var traces = await Collector.GetAsync($"/api/0/profiles/{trace}+{trace}");
        using var oneTrace = await Collector.GetAsync($"/api/0/profiles/{trace}");

        Assert.Contains("cpu, heap", await AssertError(mixed, 400));
        Assert.Contains("trace", await AssertError(traces, 400));
        Assert.Equal(TestData.Bytes("trace.out"), await oneTrace.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Unknown_malformed_and_prefix_ids_are_not_found()
    {
        var id = (await Collector.PostOkAsync(CollectorInstance.NewServiceName(), "cpu", TestData.Bytes("cpu_1.pb.gz"))).GetProperty("id").GetString()!;
        var unknown = (id[0] == '1' ? "2" : "1") + id[1..];

        using var missing = await Collector.GetAsync("/api/0/profiles/" + unknown);
        using var malformed = await Collector.GetAsync("/api/0/profiles/no-such-profile-xyz");
        using var prefix = await Collector.GetAsync("/api/0/profiles/" + id[..4]);
        using var oneUnknown = await Collector.GetAsync($"/api/0/profiles/{id}+{unknown}");

        await AssertError(missing, 404, "nothing found");
        await AssertError(malformed, 404);
        await AssertError(prefix, 404);
        Assert.Contains(unknown, await AssertError(oneUnknown, 404));
    }

    [Theory]
    [InlineData("{0}++{0}")]
    [InlineData("{0}+")]
    [InlineData("+{0}")]
    public async Task An_empty_id_between_plus_signs_is_a_bad_request(string pattern)
    {
        var id = (await Collector.PostOkAsync(CollectorInstance.NewServiceName(), "cpu", TestData.Bytes("cpu_1.pb.gz"))).GetProperty("id").GetString()!;

        using var response = await Collector.GetAsync("/api/0/profiles/" + string.Format(System.Globalization.CultureInfo.InvariantCulture, pattern, id));

        Assert.Contains("empty id", await AssertError(response, 400));
    }
}
