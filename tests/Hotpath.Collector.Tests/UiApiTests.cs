using System.Text.Json;
using Google.Protobuf;
using Hotpath.Testing;
using static Hotpath.Collector.Tests.PostProfileTests;

namespace Hotpath.Collector.Tests;

/// <summary>The UI's read endpoints, over real HTTP: the same selection rules and error shapes as the API.</summary>
public sealed class UiApiTests(CollectorFixture fixture) : IClassFixture<CollectorFixture>
{
    private static readonly DateTimeOffset T0 = new(2026, 9, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly string Window = $"from={ProfileBytes.Format(T0)}&to={ProfileBytes.Format(T0.AddHours(1))}";

    private CollectorInstance Collector => fixture.Collector;

    private async Task<string> SeedAsync()
    {
        var service = CollectorInstance.NewServiceName();
        await Collector.PostOkAsync(service, "cpu", ProfileBytes.WithTime("cpu_1.pb.gz", T0.AddMinutes(1)), "&labels=v%3D1");
        await Collector.PostOkAsync(service, "cpu", ProfileBytes.WithTime("cpu_2.pb.gz", T0.AddMinutes(2)), "&labels=v%3D1");
        await Collector.PostOkAsync(service, "cpu", ProfileBytes.WithTime("cpu_3.pb.gz", T0.AddMinutes(50)), "&labels=v%3D2");
        return service;
    }

    private async Task<JsonElement> BodyAsync(string path)
    {
        using var response = await Collector.GetAsync(path);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return (await CollectorInstance.ReadEnvelopeAsync(response)).GetProperty("body");
    }

    [Fact]
    public async Task The_profile_view_gives_the_flame_tree_and_top_rows_of_the_merge()
    {
        var service = await SeedAsync();

        var body = await BodyAsync($"/api/0/ui/profile?service={service}&type=cpu&{Window}");

        var total = TestData.Sum(TestData.CpuProfiles.Select(f => TestData.Totals[f]))[1];
        Assert.Equal(3, body.GetProperty("profiles").GetInt32());
        Assert.Equal("cpu", body.GetProperty("sample_type").GetString());
        Assert.Equal("nanoseconds", body.GetProperty("unit").GetString());
        Assert.Equal(total, body.GetProperty("total").GetInt64());
        Assert.Equal(total, body.GetProperty("flame").GetProperty("v").GetInt64());
        Assert.Equal(total, body.GetProperty("top").EnumerateArray().Sum(r => r.GetProperty("s").GetInt64()));
        Assert.Equal("crypto/sha256.block", body.GetProperty("top")[0].GetProperty("f").GetString());
        Assert.Equal("/usr/lib/go-1.19/src/crypto/sha256/sha256block_amd64.s", body.GetProperty("top")[0].GetProperty("file").GetString());
    }

    [Fact]
    public async Task The_profile_view_ranks_by_the_sample_type_asked_for_and_names_a_wrong_one()
    {
        var service = await SeedAsync();

        var samples = await BodyAsync($"/api/0/ui/profile?service={service}&type=cpu&{Window}&sample_type=samples&labels=v%3D1");
        using var bogus = await Collector.GetAsync($"/api/0/ui/profile?service={service}&type=cpu&{Window}&sample_type=bogus");

        Assert.Equal(309 + 564, samples.GetProperty("total").GetInt64());
        Assert.Contains("no sample type \"bogus\"", await AssertError(bogus, 400));
    }

    [Fact]
    public async Task The_profile_view_answers_like_merge_when_nothing_or_no_type_matches()
    {
        using var nothing = await Collector.GetAsync($"/api/0/ui/profile?service=nobody&type=cpu&{Window}");
        using var noType = await Collector.GetAsync($"/api/0/ui/profile?service=nobody&{Window}");
        using var noService = await Collector.GetAsync($"/api/0/ui/profile?type=cpu&{Window}");

        await AssertError(nothing, 404, "nothing found");
        await AssertError(noType, 405, "can't merge profiles of unknown type");
        await AssertError(noService, 400, "bad request: missing \"service\"");
    }

    [Fact]
    public async Task The_diff_compares_a_baseline_with_a_comparison_selection()
    {
        var service = await SeedAsync();

        var body = await BodyAsync($"/api/0/ui/diff?service={service}&type=cpu&{Window}&labels=v%3D1&cmp_labels=v%3D2");

        Assert.Equal(2, body.GetProperty("baseline_profiles").GetInt32());
        Assert.Equal(1, body.GetProperty("profiles").GetInt32());
        Assert.Equal(TestData.Totals["cpu_1.pb.gz"][1] + TestData.Totals["cpu_2.pb.gz"][1], body.GetProperty("baseline_total").GetInt64());
        Assert.Equal(TestData.Totals["cpu_3.pb.gz"][1], body.GetProperty("total").GetInt64());
        Assert.Equal(body.GetProperty("baseline_total").GetInt64(), body.GetProperty("flame").GetProperty("b").GetInt64());
        var top = body.GetProperty("top").EnumerateArray().ToList();
        double Change(JsonElement r) => Math.Abs(r.GetProperty("s").GetDouble() / body.GetProperty("total").GetDouble() - r.GetProperty("bs").GetDouble() / body.GetProperty("baseline_total").GetDouble());
        Assert.Equal(top.Select(Change).OrderByDescending(c => c), top.Select(Change));
        Assert.Contains(top, r => r.GetProperty("s").GetInt64() == 0 && r.GetProperty("bs").GetInt64() > 0); // gone since the baseline
        // Rows of either side name their function's source file.
        Assert.EndsWith("sha256block_amd64.s", top.Single(r => r.GetProperty("f").GetString() == "crypto/sha256.block").GetProperty("file").GetString());
        Assert.All(top.Where(r => r.GetProperty("s").GetInt64() == 0), r => Assert.StartsWith("/", r.GetProperty("file").GetString()));
    }

    [Fact]
    public async Task The_series_counts_profiles_and_sums_their_main_value_per_bucket()
    {
        var service = await SeedAsync();

        var body = await BodyAsync($"/api/0/ui/series?service={service}&type=cpu&{Window}&buckets=4");

        var buckets = body.GetProperty("buckets").EnumerateArray().ToList();
        Assert.Equal(900, body.GetProperty("step_seconds").GetDouble());
        Assert.Equal([2, 0, 0, 1], buckets.Select(b => b.GetProperty("count").GetInt32()));
        Assert.Equal(TestData.Totals["cpu_1.pb.gz"][1] + TestData.Totals["cpu_2.pb.gz"][1], buckets[0].GetProperty("value").GetInt64());
        Assert.Equal("2026-09-01T12:15:00Z", buckets[1].GetProperty("t").GetString());
    }

    [Fact]
    public async Task The_series_refuses_a_silly_bucket_count()
    {
        using var response = await Collector.GetAsync($"/api/0/ui/series?service=s&{Window}&buckets=100000");

        Assert.StartsWith("bad request: bad \"buckets\"", await AssertError(response, 400));
    }

    [Fact]
    public async Task Types_lists_every_type_a_view_can_show_as_the_api_names_them()
    {
        var body = await BodyAsync("/api/0/ui/types");

        Assert.Equal(["cpu", "heap", "block", "mutex", "goroutine", "threadcreate", "other", "wall"], body.EnumerateArray().Select(t => t.GetString()));
    }

    [Fact]
    public async Task Labels_lists_each_key_with_its_values()
    {
        var service = await SeedAsync();

        var body = await BodyAsync($"/api/0/ui/labels?service={service}");

        Assert.Equal("[{\"key\":\"v\",\"values\":[\"1\",\"2\"]}]", body.GetRawText());
    }

    [Fact]
    public async Task A_sample_label_filter_keeps_only_its_samples_and_group_by_puts_each_value_at_the_root()
    {
        var service = CollectorInstance.NewServiceName();
        var (body, hash, sort) = LabeledProfiles.Workers(T0.AddMinutes(5));
        await Collector.PostOkAsync(service, "cpu", body);

        var all = await BodyAsync($"/api/0/ui/profile?service={service}&type=cpu&{Window}");
        var filtered = await BodyAsync($"/api/0/ui/profile?service={service}&type=cpu&{Window}&sample_labels=worker%3Dhash");
        var grouped = await BodyAsync($"/api/0/ui/profile?service={service}&type=cpu&{Window}&group_by=worker");

        Assert.True(hash > 0 && sort > 0);
        Assert.Equal(hash + sort, all.GetProperty("total").GetInt64());
        Assert.Equal(hash, filtered.GetProperty("total").GetInt64());
        Assert.DoesNotContain(filtered.GetProperty("top").EnumerateArray(), r => r.GetProperty("f").GetString() == "sort.insertionSort");
        var offered = Assert.Single(all.GetProperty("sample_labels").EnumerateArray());
        Assert.Equal("worker", offered.GetProperty("key").GetString());
        Assert.Equal([("hash", hash), ("sort", sort)], offered.GetProperty("values").EnumerateArray().Select(v => (v.GetProperty("v").GetString(), v.GetProperty("t").GetInt64())).OrderBy(v => v.Item1));
        var roots = grouped.GetProperty("flame").GetProperty("c").EnumerateArray().ToDictionary(c => c.GetProperty("n").GetString()!, c => c.GetProperty("v").GetInt64());
        Assert.Equal(new Dictionary<string, long> { ["worker=hash"] = hash, ["worker=sort"] = sort }, roots);
    }

    [Fact]
    public async Task The_explorer_ranks_a_labels_values_by_their_total_with_a_series_each()
    {
        var service = await SeedAsync();

        var body = await BodyAsync($"/api/0/ui/explore?service={service}&type=cpu&{Window}&key=v&buckets=4");

        var values = body.GetProperty("values").EnumerateArray().ToList();
        Assert.Equal(["1", "2"], values.Select(v => v.GetProperty("value").GetString()));
        var first = TestData.Totals["cpu_1.pb.gz"][1] + TestData.Totals["cpu_2.pb.gz"][1];
        Assert.Equal(first, values[0].GetProperty("total").GetInt64());
        Assert.Equal(2, values[0].GetProperty("profiles").GetInt32());
        Assert.Equal((double)first / (first + TestData.Totals["cpu_3.pb.gz"][1]), values[0].GetProperty("share").GetDouble(), 6);
        Assert.Equal([0, 0, 0, 1], values[1].GetProperty("buckets").EnumerateArray().Select(b => b.GetProperty("count").GetInt32()));
    }

    [Fact]
    public async Task The_sandwich_gives_a_functions_callers_up_to_the_roots_and_its_callees()
    {
        var service = await SeedAsync();

        var body = await BodyAsync($"/api/0/ui/sandwich?service={service}&type=cpu&{Window}&labels=v%3D1&function=crypto/sha256.(*digest).Write");

        var callers = body.GetProperty("callers");
        Assert.Equal("crypto/sha256.(*digest).Write", callers.GetProperty("n").GetString());
        Assert.Equal(body.GetProperty("function_total").GetInt64(), callers.GetProperty("v").GetInt64());
        static IEnumerable<string> Names(JsonElement node) =>
            new[] { node.GetProperty("n").GetString()! }.Concat(node.TryGetProperty("c", out var c) ? c.EnumerateArray().SelectMany(Names) : []);
        Assert.Equal("crypto/sha256.Sum256", callers.GetProperty("c")[0].GetProperty("n").GetString()); // its one caller
        Assert.Equal(["crypto/sha256.(*digest).Write", "crypto/sha256.Sum256", "main.workHash", "main.runWorkloads.func1"], Names(callers)); // up to the roots of the stacks
        var callees = body.GetProperty("callees");
        Assert.Equal("crypto/sha256.block", callees.GetProperty("c")[0].GetProperty("n").GetString());
        Assert.Equal(callees.GetProperty("v").GetInt64(), callers.GetProperty("v").GetInt64());
        Assert.Equal(0, body.GetProperty("function_self").GetInt64()); // all its time is in block
    }

    [Fact]
    public async Task The_merge_exports_as_folded_text_and_as_speedscope_json_with_the_same_total()
    {
        var service = await SeedAsync();
        var total = TestData.Sum(TestData.CpuProfiles.Select(f => TestData.Totals[f]))[1];

        var folded = await Collector.Http.GetAsync($"/api/0/ui/export?service={service}&type=cpu&{Window}&format=folded");
        var speedscope = await Collector.Http.GetAsync($"/api/0/ui/export?service={service}&type=cpu&{Window}&format=speedscope");
        using var bad = await Collector.GetAsync($"/api/0/ui/export?service={service}&type=cpu&{Window}&format=svg");

        var lines = (await folded.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(total, lines.Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Contains(lines, l => l.Contains(";crypto/sha256.block ", StringComparison.Ordinal));
        Assert.Contains("attachment", folded.Content.Headers.ContentDisposition?.ToString());
        using var json = JsonDocument.Parse(await speedscope.Content.ReadAsStringAsync());
        Assert.Equal("https://www.speedscope.app/file-format-schema.json", json.RootElement.GetProperty("$schema").GetString());
        var profile = json.RootElement.GetProperty("profiles")[0];
        Assert.Equal("nanoseconds", profile.GetProperty("unit").GetString());
        Assert.Equal(total, profile.GetProperty("weights").EnumerateArray().Sum(w => w.GetInt64()));
        var frames = json.RootElement.GetProperty("shared").GetProperty("frames");
        Assert.All(profile.GetProperty("samples").EnumerateArray().SelectMany(s => s.EnumerateArray()), i => Assert.InRange(i.GetInt32(), 0, frames.GetArrayLength() - 1));
        Assert.StartsWith("bad request: bad \"format\"", await AssertError(bad, 400));
    }

    [Fact]
    public async Task A_profile_of_fifty_thousand_stacks_comes_back_as_a_tree_of_a_few_thousand_nodes()
    {
        var service = CollectorInstance.NewServiceName();
        await Collector.PostOkAsync(service, "cpu", SyntheticProfiles.ManyStacks(50_000, (T0.UtcTicks - DateTime.UnixEpoch.Ticks) * 100).ToByteArray());

        var body = await BodyAsync($"/api/0/ui/profile?service={service}&type=cpu&{Window}");

        static int Count(JsonElement node) => 1 + (node.TryGetProperty("c", out var c) ? c.EnumerateArray().Sum(Count) : 0);
        Assert.InRange(Count(body.GetProperty("flame")), 10, 5_000);
    }

    [Fact]
    public async Task The_page_and_its_scripts_are_served_by_the_collector_with_a_strict_policy()
    {
        using var page = await Collector.GetAsync("/");
        using var script = await Collector.GetAsync("/ui/app.js");
        using var missing = await Collector.GetAsync("/ui/nope.js");

        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<script type=\"module\" src=\"/ui/app.js\">", await page.Content.ReadAsStringAsync());
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);
    }
}
