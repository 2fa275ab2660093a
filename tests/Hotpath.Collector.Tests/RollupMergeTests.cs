using System.Globalization;
using System.Net;
using Hotpath.Collector.Storage;
using Hotpath.Pprof;
using Hotpath.Storage.Sqlite;
using Hotpath.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Hotpath.Collector.Tests;

/// <summary>
/// Merges answered from the embedded store's pre-merged pieces against Go's merge of the same raw profiles
/// (the decode path, which a limit selects), over real HTTP on the real corpus.
/// </summary>
public sealed class RollupMergeTests
{
    private static readonly DateTimeOffset T0 = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    private static SqliteProfileStore Store(CollectorInstance collector) =>
        (SqliteProfileStore)collector.Services.GetRequiredService<StorageEngines>().Engines[0];

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture);

    private static async Task<string?> CanonicalMergeAsync(CollectorInstance collector, string query)
    {
        using var response = await collector.GetAsync("/api/0/profiles/merge?" + query);
        if (response.StatusCode == HttpStatusCode.NotFound)
            return null;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return CanonicalProfile.Of(new ProfileDecoder().Decode(await response.Content.ReadAsByteArrayAsync()));
    }

    [Fact]
    public async Task Random_selections_merged_from_pieces_equal_go_merges_of_their_raw_profiles()
    {
        await using var collector = await CollectorInstance.StartAsync();
        var random = new Random(1201);
        string[] cpu = ["cpu_1.pb.gz", "cpu_2.pb.gz", "cpu_3.pb.gz"];
        string[] heap = ["heap_1.pb.gz", "heap_2.pb.gz"]; // heap samples carry labels (bytes)
        var cpuProfiles = 0;
        for (var i = 0; i < 240; i++)
        {
            var (type, files) = i % 3 == 0 ? ("heap", heap) : ("cpu", cpu);
            cpuProfiles += type == "cpu" ? 1 : 0;
            var time = T0.AddSeconds(random.Next(3 * 86_400));
            await collector.PostOkAsync("fleet", type, ProfileBytes.WithTime(files[random.Next(files.Length)], time),
                $"&labels=host%3Dh{random.Next(4)},version%3D1.{4 + random.Next(2)}");
        }

        await Store(collector).BuildRollupsAsync(default); // the background pass may have built some already
        Assert.Equal(0, Store(collector).PendingBuckets);

        string[] filters = ["", "&labels=version%3D1.5", "&labels=host%3Dh2", "&labels=host%3Dh1,version%3D1.4", "&labels=host%3Dnone"];
        var compared = 0;
        for (var i = 0; i < 40; i++)
        {
            var type = i % 4 == 0 ? "heap" : "cpu";
            var from = T0.AddSeconds(random.Next(-3_600, 3 * 86_400));
            var to = from.AddSeconds(random.Next(60, 2 * 86_400));
            var query = $"service=fleet&type={type}&from={Format(from)}&to={Format(to)}{filters[i % filters.Length]}";

            var fromPieces = await CanonicalMergeAsync(collector, query);
            var fromRaw = await CanonicalMergeAsync(collector, query + "&limit=100000");

            Assert.True(fromRaw == fromPieces, $"{query}: the merges differ");
            if (fromRaw is not null)
                compared++;
        }

        Assert.InRange(compared, 20, 40);

        // The series reads the pieces no wider than a bucket: the same counts and values as one row a profile.
        var days = $"service=fleet&type=cpu&from={Format(T0)}&to={Format(T0.AddDays(3).AddSeconds(-1))}&buckets=3";
        using var seriesFromPieces = await collector.GetAsync("/api/0/ui/series?" + days);
        using var seriesFromRows = await collector.GetAsync("/api/0/ui/series?" + days + "&limit=100000");
        var pieceBuckets = (await CollectorInstance.ReadEnvelopeAsync(seriesFromPieces)).GetProperty("body").GetProperty("buckets").GetRawText();
        Assert.Equal((await CollectorInstance.ReadEnvelopeAsync(seriesFromRows)).GetProperty("body").GetProperty("buckets").GetRawText(), pieceBuckets);
        var counted = (await CollectorInstance.ReadEnvelopeAsync(seriesFromPieces)).GetProperty("body").GetProperty("buckets").EnumerateArray().Sum(b => b.GetProperty("count").GetInt32());
        Assert.Equal(cpuProfiles, counted);
    }

    [Fact]
    public async Task A_profile_is_in_every_merge_as_soon_as_its_post_is_answered_even_in_a_bucket_already_built()
    {
        await using var collector = await CollectorInstance.StartAsync();
        for (var hour = 0; hour < 3; hour++)
            await collector.PostOkAsync("late", "cpu", ProfileBytes.WithTime("cpu_1.pb.gz", T0.AddHours(hour).AddMinutes(7)));
        await Store(collector).BuildRollupsAsync(default);
        var window = $"service=late&type=cpu&from={Format(T0)}&to={Format(T0.AddDays(1))}";
        var before = (await collector.GetProfileAsync("/api/0/profiles/merge?" + window)).Totals();

        await collector.PostOkAsync("late", "cpu", ProfileBytes.WithTime("cpu_2.pb.gz", T0.AddHours(1).AddMinutes(7).AddSeconds(30)));
        var after = (await collector.GetProfileAsync("/api/0/profiles/merge?" + window)).Totals();
        await collector.PostOkAsync("late", "cpu", ProfileBytes.WithTime("cpu_3.pb.gz", TestClock.UtcNow));
        var now = (await collector.GetProfileAsync($"/api/0/profiles/merge?service=late&type=cpu&from={Format(T0)}&to={Format(TestClock.UtcNow.AddMinutes(1))}")).Totals();

        Assert.Equal(TestData.Sum([before, TestData.Totals["cpu_2.pb.gz"]]), after);
        Assert.Equal(TestData.Sum([after, TestData.Totals["cpu_3.pb.gz"]]), now);
        await Store(collector).BuildRollupsAsync(default);
        Assert.Equal(after, (await collector.GetProfileAsync("/api/0/profiles/merge?" + window)).Totals());
    }

    [Fact]
    public async Task Recent_minutes_are_built_from_the_profiles_ingest_decoded_and_equal_go_merges_of_their_raw_profiles()
    {
        await using var collector = await CollectorInstance.StartAsync();
        // Within a minute that is over but recent, so ingest keeps what it decoded for it.
        var minute = DateTimeOffset.FromUnixTimeSeconds(TestClock.UtcNow.ToUnixTimeSeconds() / 60 * 60 - 60);
        for (var i = 0; i < 12; i++)
        {
            await collector.PostOkAsync("recent", i % 3 == 0 ? "heap" : "cpu",
                ProfileBytes.WithTime(i % 3 == 0 ? "heap_1.pb.gz" : TestData.CpuProfiles[i % 3], minute.AddSeconds(i * 4)), $"&labels=host%3Dh{i % 2}");
        }

        await Store(collector).BuildRollupsAsync(default);

        Assert.True(Store(collector).PiecesFromIngest >= 1, $"only {Store(collector).PiecesFromIngest} minutes came from ingest");
        foreach (var (type, filter) in new[] { ("cpu", ""), ("cpu", "&labels=host%3Dh1"), ("heap", "") })
        {
            var query = $"service=recent&type={type}&from={Format(minute.AddMinutes(-1))}&to={Format(minute.AddMinutes(2))}{filter}";
            var fromPieces = await CanonicalMergeAsync(collector, query);
            Assert.NotNull(fromPieces);
            Assert.True(await CanonicalMergeAsync(collector, query + "&limit=100000") == fromPieces, $"{query}: the merges differ");
        }
    }

    [Fact]
    public async Task Gauges_of_instances_with_labels_of_their_own_are_averaged_from_pieces_past_the_cap_as_from_their_raw_profiles()
    {
        await using var collector = await CollectorInstance.StartAsync("--Collector:MaxProfilesPerMerge=6");
        var start = T0.AddDays(2);
        async Task PostAsync(string file, int minute, string instance, string labels) =>
            await collector.PostOkAsync("gauges", "heap", ProfileBytes.WithTime(file, start.AddMinutes(minute)), $"&instance_id={instance}&labels={labels}");
        // a: four snapshots over two versions, b: three, c: two, each host its own label sets; d and e share theirs.
        for (var i = 0; i < 4; i++)
            await PostAsync("heap_1.pb.gz", i * 7, "a", $"host%3Da,version%3D{1 + i / 2}");
        for (var i = 0; i < 3; i++)
            await PostAsync("heap_2.pb.gz", i * 11, "b", "host%3Db");
        for (var i = 0; i < 2; i++)
            await PostAsync("heap_1.pb.gz", 30 + i, "c", "host%3Dc");
        await PostAsync("heap_1.pb.gz", 3, "d", "region%3Dx");
        await PostAsync("heap_2.pb.gz", 4, "e", "region%3Dx");
        await Store(collector).BuildRollupsAsync(default);

        // 11 profiles, past the cap of 6: only d's and e's are read raw.
        var averaged = await collector.GetProfileAsync($"/api/0/profiles/merge?service=gauges&type=heap&from={Format(start)}&to={Format(start.AddHours(1))}&aggregation=avg");

        // alloc_objects, alloc_space summed over every snapshot; inuse_objects, inuse_space averaged per instance, then summed.
        var (one, other) = (TestData.Totals["heap_1.pb.gz"], TestData.Totals["heap_2.pb.gz"]);
        long[] Sum(int column, int ones, int others) => [ones * one[column] + others * other[column]];
        Assert.Equal([.. Sum(0, 7, 4), .. Sum(1, 7, 4), .. Sum(2, 3, 2), .. Sum(3, 3, 2)], averaged.Totals());
    }

    [Fact]
    public async Task Values_that_sum_past_64_bits_in_one_minute_are_merged_as_go_merges_and_do_not_stop_the_pieces()
    {
        await using var collector = await CollectorInstance.StartAsync();
        var minute = T0.AddHours(5);
        // Each fits (922337203685 samples of 10 ms is just under 2^63 ns); their sum does not.
        for (var i = 0; i < 2; i++)
        {
            using var response = await collector.Http.PostAsync($"/ingest?name=huge.cpu&format=folded&from={minute.AddSeconds(i).ToUnixTimeSeconds()}",
                new StringContent("a;b 922337203685\n"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await Store(collector).BuildRollupsAsync(default);

        Assert.Equal(0, Store(collector).PendingBuckets);
        var query = $"service=huge&type=cpu&from={Format(minute.AddMinutes(-1))}&to={Format(minute.AddMinutes(2))}";
        Assert.Equal(await CanonicalMergeAsync(collector, query + "&limit=100000"), await CanonicalMergeAsync(collector, query));
        using var series = await collector.GetAsync($"/api/0/ui/series?{query}");
        Assert.Equal(HttpStatusCode.OK, series.StatusCode);
    }
}
