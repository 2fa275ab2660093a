using Hotpath.Pprof;
using Hotpath.Storage.Tenancy;
using Hotpath.Testing;

namespace Hotpath.Storage.Tests;

/// <summary>
/// What every storage engine must do, whatever it is built on. Each engine's test class derives from this
/// and says how to open a store (and reopen the same one, to prove durability).
/// </summary>
public abstract class ProfileStoreContract
{
    protected static readonly long T0 = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000;
    protected const long Second = 1_000_000_000;

    /// <summary>A store over empty, fresh storage.</summary>
    protected abstract Task<IStoreUnderTest> CreateAsync();

    public interface IStoreUnderTest : IAsyncDisposable
    {
        IProfileWriter Writer { get; }
        IProfileReader Reader { get; }
        IRetention Retention { get; }

        /// <summary>Closes the store and opens it again on the same storage.</summary>
        Task ReopenAsync();

        /// <summary>Builds the engine's pre-merged pieces of buckets over by <paramref name="now"/>; nothing for an engine without them.</summary>
        Task BuildPiecesAsync(DateTimeOffset now) => Task.CompletedTask;
    }

    /// <summary>A store that <paramref name="open"/> makes over the same storage each time: reopening is closing and opening again.</summary>
    protected sealed class OpenedStore(Func<IProfileStore> open, Func<IProfileStore, DateTimeOffset, Task>? buildPieces = null) : IStoreUnderTest
    {
        private IProfileStore _store = open();

        public Task BuildPiecesAsync(DateTimeOffset now) => buildPieces?.Invoke(_store, now) ?? Task.CompletedTask;

        public IProfileWriter Writer => _store;
        public IProfileReader Reader => _store;
        public IRetention Retention => _store;

        public async Task ReopenAsync()
        {
            await DisposeAsync();
            _store = open();
        }

        public async ValueTask DisposeAsync()
        {
            if (_store is IAsyncDisposable asyncDisposable)
                await asyncDisposable.DisposeAsync();
            else
                (_store as IDisposable)?.Dispose();
        }
    }

    protected static NewProfile Profile(string service, ProfileType type, long createdAt, params (string Key, string Value)[] labels) =>
        new(service, type, "instance-1", [.. labels.Select(l => new ProfileLabel(l.Key, l.Value))], createdAt);

    private static uint _written;

    /// <summary>The profile with the id an engine gives one written when it was taken (its id carries the write time).</summary>
    protected static NewProfile Written(NewProfile profile) =>
        profile with { Id = ProfileId.At(profile.CreatedAtUnixNanos, Interlocked.Increment(ref _written)) };

    private static ProfileQuery Query(string service, long from, long to, ProfileType? type = null, int limit = 0, params (string Key, string Value)[] labels) =>
        new(service, type, from, to, [.. labels.Select(l => new ProfileLabel(l.Key, l.Value))], limit);

    [Fact]
    public async Task A_store_that_is_up_answers_its_health_probe_under_its_own_name()
    {
        await using var store = await CreateAsync();
        var probe = Assert.IsAssignableFrom<IStorageProbe>(store.Writer);

        await probe.ProbeAsync(default);

        Assert.All(probe.Backend.Split(','), name => Assert.Contains(name, new[] { "sqlite", "s3", "clickhouse" }));
    }

    [Fact]
    public async Task A_written_profile_is_found_and_read_back_byte_for_byte()
    {
        await using var store = await CreateAsync();
        var body = TestData.Bytes("cpu_1.pb.gz");

        var meta = await store.Writer.WriteAsync(Profile("api", ProfileType.Cpu, T0, ("region", "eu")), body, default);

        var found = await store.Reader.FindAsync(Query("api", T0, T0), default);
        var read = await store.Reader.OpenAsync([meta.Id], default).ToListAsync();
        Assert.Equal(meta, Assert.Single(found));
        Assert.Equal(body.Length, meta.Size);
        Assert.Equal("instance-1", meta.InstanceId);
        Assert.Equal(body, Assert.Single(read));
    }

    [Fact]
    public async Task Profiles_survive_closing_and_reopening_the_store()
    {
        await using var store = await CreateAsync();
        var body = TestData.Bytes("heap_1.pb.gz");
        var meta = await store.Writer.WriteAsync(Profile("api", ProfileType.Heap, T0, ("k", "v")), body, default);

        await store.ReopenAsync();

        Assert.Equal(meta, Assert.Single(await store.Reader.GetAsync([meta.Id], default)));
        Assert.Equal(body, Assert.Single(await store.Reader.OpenAsync([meta.Id], default).ToListAsync()));
        Assert.Equal(["api"], await store.Reader.ListServicesAsync(default));
    }

    [Fact]
    public async Task Find_filters_by_service_type_window_and_label_subset_oldest_first()
    {
        await using var store = await CreateAsync();
        var body = TestData.Bytes("cpu_1.pb.gz");
        var c = await store.Writer.WriteAsync(Profile("api", ProfileType.Cpu, T0 + 3 * Second, ("dc", "fra"), ("host", "a")), body, default);
        var a = await store.Writer.WriteAsync(Profile("api", ProfileType.Cpu, T0 + 1 * Second, ("dc", "fra"), ("host", "a")), body, default);
        var b = await store.Writer.WriteAsync(Profile("api", ProfileType.Heap, T0 + 2 * Second, ("dc", "fra")), body, default);
        await store.Writer.WriteAsync(Profile("web", ProfileType.Cpu, T0 + 2 * Second, ("dc", "fra")), body, default);
        await store.Writer.WriteAsync(Profile("api", ProfileType.Cpu, T0 + 9 * Second, ("dc", "fra")), body, default);

        async Task<List<string>> Ids(ProfileQuery q) => [.. (await store.Reader.FindAsync(q, default)).Select(m => m.Id)];

        Assert.Equal([a.Id, b.Id, c.Id], await Ids(Query("api", T0, T0 + 5 * Second)));
        Assert.Equal([a.Id, c.Id], await Ids(Query("api", T0, T0 + 5 * Second, ProfileType.Cpu)));
        Assert.Equal([a.Id, b.Id, c.Id], await Ids(Query("api", T0, T0 + 5 * Second, labels: [("dc", "fra")])));
        Assert.Equal([a.Id, c.Id], await Ids(Query("api", T0, T0 + 5 * Second, labels: [("host", "a"), ("dc", "fra")])));
        Assert.Equal([c.Id], await Ids(Query("api", T0, T0 + 5 * Second, limit: 1, labels: [("host", "a")])));
        Assert.Equal([b.Id, c.Id], await Ids(Query("api", T0, T0 + 5 * Second, limit: 2)));
        Assert.Equal([b.Id], await Ids(Query("api", T0 + 2 * Second, T0 + 2 * Second)));
        Assert.Empty(await Ids(Query("api", T0, T0 + 5 * Second, labels: [("dc", "nyc")])));
        Assert.Empty(await Ids(Query("nobody", T0, T0 + 5 * Second)));
    }

    [Fact]
    public async Task Get_and_open_keep_the_order_asked_and_leave_out_unknown_ids()
    {
        await using var store = await CreateAsync();
        var one = await store.Writer.WriteAsync(Profile("s", ProfileType.Cpu, T0), TestData.Bytes("cpu_1.pb.gz"), default);
        var two = await store.Writer.WriteAsync(Profile("s", ProfileType.Cpu, T0), TestData.Bytes("cpu_2.pb.gz"), default);

        var metas = await store.Reader.GetAsync([two.Id, "0000000000000000", one.Id], default);
        var bodies = await store.Reader.OpenAsync([two.Id, one.Id, two.Id], default).ToListAsync();

        Assert.Equal([two.Id, one.Id], metas.Select(m => m.Id));
        Assert.Equal([TestData.Bytes("cpu_2.pb.gz"), TestData.Bytes("cpu_1.pb.gz"), TestData.Bytes("cpu_2.pb.gz")], bodies);
    }

    [Fact]
    public async Task Concurrent_writes_all_complete_and_are_all_readable()
    {
        await using var store = await CreateAsync();
        var body = TestData.Bytes("cpu_1.pb.gz");

        var writes = Enumerable.Range(0, 200).Select(i => Task.Run(() =>
            store.Writer.WriteAsync(Profile("busy", ProfileType.Cpu, T0 + i, ("n", i.ToString(System.Globalization.CultureInfo.InvariantCulture))), body, default)));
        var metas = await Task.WhenAll(writes);

        var found = await store.Reader.FindAsync(Query("busy", T0, T0 + 1000), default);
        Assert.Equal(200, metas.Select(m => m.Id).Distinct().Count());
        Assert.Equal(metas.OrderBy(m => m.CreatedAtUnixNanos).Select(m => m.Id), found.Select(m => m.Id));
    }

    [Fact]
    public async Task A_services_label_pairs_are_listed_once_each_sorted()
    {
        await using var store = await CreateAsync();
        await store.Writer.WriteAsync(Profile("s", ProfileType.Cpu, T0, ("v", "2"), ("region", "eu")), new byte[] { 1 }, default);
        await store.Writer.WriteAsync(Profile("s", ProfileType.Heap, T0, ("v", "1"), ("region", "eu")), new byte[] { 1 }, default);
        await store.Writer.WriteAsync(Profile("other", ProfileType.Cpu, T0, ("zone", "b")), new byte[] { 1 }, default);

        var labels = await store.Reader.ListLabelsAsync("s", default);

        Assert.Equal([new("region", "eu"), new("v", "1"), new("v", "2")], labels);
    }

    [Fact]
    public async Task The_series_counts_each_selected_profile_once_in_points_no_wider_than_the_resolution()
    {
        await using var store = await CreateAsync();
        for (var i = 0; i < 12; i++)
            await store.Writer.WriteAsync(Profile("s", ProfileType.Cpu, T0 + i * 10 * Second, ("k", i % 3 == 0 ? "a" : "b")) with { Value = 100 + i }, new byte[] { 1 }, default);
        await store.Writer.WriteAsync(Profile("s", ProfileType.Heap, T0, ("k", "a")) with { Value = 7 }, new byte[] { 1 }, default);

        var all = await store.Reader.SeriesAsync(Query("s", T0, T0 + 200 * Second, ProfileType.Cpu), 60 * Second, default);
        var ofA = await store.Reader.SeriesAsync(Query("s", T0 + Second, T0 + 200 * Second, ProfileType.Cpu, labels: [("k", "a")]), 60 * Second, default);

        Assert.Equal((12, Enumerable.Range(100, 12).Sum()), (all.Sum(p => p.Profiles), all.Sum(p => p.Value)));
        Assert.All(all, p => Assert.InRange(p.TimeUnixNanos, T0, T0 + 110 * Second));
        Assert.Equal((3, 103 + 106 + 109), (ofA.Sum(p => p.Profiles), ofA.Sum(p => p.Value)));
    }

    [Fact]
    public async Task The_series_by_label_counts_each_selected_profile_under_its_value_and_leaves_out_those_without_the_key()
    {
        await using var store = await CreateAsync();
        for (var i = 0; i < 30; i++)
        {
            await store.Writer.WriteAsync(Profile("s", ProfileType.Cpu, T0 + i * 10 * Second, ("host", $"h{i % 5}"), ("region", i % 2 == 0 ? "eu" : "us")) with { Value = i },
                new byte[] { 1 }, default);
        }

        await store.Writer.WriteAsync(Profile("s", ProfileType.Cpu, T0, ("region", "eu")) with { Value = 1000 }, new byte[] { 1 }, default); // no host
        await store.Writer.WriteAsync(Profile("s", ProfileType.Heap, T0, ("host", "h0")) with { Value = 1000 }, new byte[] { 1 }, default); // another type

        var all = await store.Reader.SeriesByLabelAsync(Query("s", T0, T0 + 600 * Second, ProfileType.Cpu), "host", 60 * Second, default);
        var eu = await store.Reader.SeriesByLabelAsync(Query("s", T0, T0 + 600 * Second, ProfileType.Cpu, labels: [("region", "eu")]), "host", 60 * Second, default);

        static Dictionary<string, (int, long)> Totals(IEnumerable<LabeledSeriesPoint> points) => points.GroupBy(p => p.Value)
            .ToDictionary(g => g.Key, g => (g.Sum(p => p.Point.Profiles), g.Sum(p => p.Point.Value)));
        Assert.Equal(Enumerable.Range(0, 5).ToDictionary(h => $"h{h}", h => (6, (long)Enumerable.Range(0, 30).Where(i => i % 5 == h).Sum())), Totals(all));
        Assert.Equal(Enumerable.Range(0, 5).ToDictionary(h => $"h{h}", h => (3, (long)Enumerable.Range(0, 30).Where(i => i % 5 == h && i % 2 == 0).Sum())), Totals(eu));
        Assert.All(all, p => Assert.InRange(p.Point.TimeUnixNanos, T0, T0 + 290 * Second));
    }

    [Fact]
    public async Task Label_sets_that_read_alike_when_joined_stay_apart_in_finds_series_and_merges()
    {
        await using var store = await CreateAsync();
        // {"a=b": "c"} and {"a": "b=c"}: one text if keys and values were joined with '='.
        var first = await store.Writer.WriteAsync(Profile("s", ProfileType.Cpu, T0 + Second, ("a=b", "c")), TestData.Bytes("cpu_1.pb.gz"), default);
        var second = await store.Writer.WriteAsync(Profile("s", ProfileType.Cpu, T0 + 2 * Second, ("a", "b=c")), TestData.Bytes("cpu_2.pb.gz"), default);
        await store.BuildPiecesAsync(DateTimeOffset.FromUnixTimeMilliseconds(T0 / 1_000_000).AddDays(1));

        foreach (var (label, meta, file) in new[] { (("a=b", "c"), first, "cpu_1.pb.gz"), (("a", "b=c"), second, "cpu_2.pb.gz") })
        {
            var query = Query("s", T0, T0 + 7_200 * Second, ProfileType.Cpu, labels: [label]);
            Assert.Equal([meta.Id], (await store.Reader.FindAsync(query, default)).Select(m => m.Id));
            var source = await store.Reader.OpenMergeAsync(query, 100, default);
            var merger = new ProfileMerger();
            await foreach (var body in source.Bodies)
                merger.Add(new ProfileDecoder().Decode(body));
            Assert.Equal(TestData.Totals[file], merger.Build().Totals());
        }

        var byKey = await store.Reader.SeriesByLabelAsync(Query("s", T0, T0 + 7_200 * Second, ProfileType.Cpu), "a", 60 * Second, default);
        Assert.Equal(["b=c"], byKey.Select(p => p.Value).Distinct());
    }

    [Fact]
    public async Task Bodies_of_hundreds_of_ids_come_in_the_order_asked_and_a_reader_may_stop_early()
    {
        await using var store = await CreateAsync();
        var ids = new List<string>();
        await Task.WhenAll(Enumerable.Range(0, 450).Select(async i =>
        {
            var meta = await store.Writer.WriteAsync(Profile("many", ProfileType.Trace, T0 + i * Second), System.Text.Encoding.UTF8.GetBytes($"body {i}"), default);
            lock (ids)
                ids.Add(meta.Id);
        }));
        ids.Reverse(); // any order but the written one

        var read = await store.Reader.OpenAsync(ids, default).ToListAsync();
        var first = await store.Reader.OpenAsync(ids, default).Take(1).ToListAsync();

        var expected = (await store.Reader.GetAsync(ids, default)).Select(m => $"body {(m.CreatedAtUnixNanos - T0) / Second}");
        Assert.Equal(expected, read.Select(b => System.Text.Encoding.UTF8.GetString(b)));
        Assert.Equal(read[0], Assert.Single(first));
    }

    [Fact]
    public async Task Tenants_of_one_store_never_see_each_others_services_profiles_or_pieces()
    {
        await using var store = await CreateAsync();
        var acme = new TenantStore(store.Reader, store.Writer, "acme");
        var globex = new TenantStore(store.Reader, store.Writer, "globex");
        var anyone = new TenantStore(store.Reader, store.Writer, TenantServices.Default);
        // One service name in three tenants, each with profiles of its own.
        var ofAcme = await acme.WriteAsync(Profile("api", ProfileType.Cpu, T0 + Second, ("region", "eu")), TestData.Bytes("cpu_1.pb.gz"), default);
        await acme.WriteAsync(Profile("api", ProfileType.Cpu, T0 + 2 * Second, ("region", "eu")), TestData.Bytes("cpu_2.pb.gz"), default);
        var ofGlobex = await globex.WriteAsync(Profile("api", ProfileType.Cpu, T0 + 3 * Second, ("region", "eu")), TestData.Bytes("cpu_3.pb.gz"), default);
        await anyone.WriteAsync(Profile("api", ProfileType.Cpu, T0 + 4 * Second, ("region", "us")), TestData.Bytes("cpu_2.pb.gz"), default);
        await globex.WriteAsync(Profile("billing", ProfileType.Heap, T0 + 5 * Second), TestData.Bytes("heap_1.pb.gz"), default);
        await store.BuildPiecesAsync(DateTimeOffset.FromUnixTimeMilliseconds(T0 / 1_000_000).AddDays(1));

        var week = Query("api", T0, T0 + 7 * 86_400 * Second, ProfileType.Cpu);
        foreach (var (tenant, services, files, regions) in new[]
        {
            (acme, new[] { "api" }, new[] { "cpu_1.pb.gz", "cpu_2.pb.gz" }, new[] { "eu" }),
            (globex, ["api", "billing"], ["cpu_3.pb.gz"], ["eu"]),
            (anyone, ["api"], ["cpu_2.pb.gz"], ["us"]),
        })
        {
            Assert.Equal(services, await tenant.ListServicesAsync(default));
            var found = await tenant.FindAsync(week, default);
            Assert.Equal(files.Length, found.Count);
            Assert.All(found, m => Assert.Equal("api", m.Service));
            Assert.Equal(regions, (await tenant.ListLabelsAsync("api", default)).Select(l => l.Value));
            var merger = new ProfileMerger();
            await foreach (var body in (await tenant.OpenMergeAsync(week, 100, default)).Bodies)
                merger.Add(new ProfileDecoder().Decode(body));
            Assert.Equal(TestData.Sum(files.Select(f => TestData.Totals[f])), merger.Build().Totals());
            Assert.Equal(files.Length, (await tenant.SeriesAsync(week, 86_400 * Second, default)).Sum(p => p.Profiles));
            Assert.Equal(regions, (await tenant.SeriesByLabelAsync(week, "region", 86_400 * Second, default)).Select(p => p.Value).Distinct());
        }

        // An id is no way in: another tenant's profile is unknown, by metadata and by body.
        Assert.Empty(await globex.GetAsync([ofAcme.Id], default));
        Assert.Empty(await globex.OpenAsync([ofAcme.Id], default).ToListAsync());
        Assert.Empty(await anyone.OpenAsync([ofAcme.Id, ofGlobex.Id], default).ToListAsync());
        Assert.Equal([ofGlobex.Id], (await globex.GetAsync([ofAcme.Id, ofGlobex.Id], default)).Select(m => m.Id));
        // Nor is a service name that spells another tenant's stored one.
        Assert.Empty(await anyone.FindAsync(week with { Service = "acme" + TenantServices.Separator + "api" }, default));
    }

    [Fact]
    public async Task The_main_value_is_kept_with_the_metadata()
    {
        await using var store = await CreateAsync();
        var meta = await store.Writer.WriteAsync(Profile("s", ProfileType.Cpu, T0) with { Value = 3_090_000_000 }, new byte[] { 1 }, default);

        Assert.Equal(3_090_000_000, Assert.Single(await store.Reader.GetAsync([meta.Id], default)).Value);
    }

    [Fact]
    public async Task Services_are_listed_sorted_and_once_each()
    {
        await using var store = await CreateAsync();
        Assert.Empty(await store.Reader.ListServicesAsync(default));
        foreach (var service in new[] { "b", "a", "b", "C" })
            await store.Writer.WriteAsync(Profile(service, ProfileType.Trace, T0), new byte[] { 1, 2, 3 }, default);

        Assert.Equal(["C", "a", "b"], await store.Reader.ListServicesAsync(default));
    }

    [Fact]
    public async Task Retention_deletes_what_was_taken_and_written_before_the_cutoff_and_nothing_else()
    {
        await using var store = await CreateAsync();
        var body = TestData.Bytes("cpu_1.pb.gz");
        // Written when they were taken: the id carries the write time, as an engine given an id keeps it.
        var old = await store.Writer.WriteAsync(Written(Profile("old-only", ProfileType.Cpu, T0 - 10 * Second, ("k", "v"))), body, default);
        await store.Writer.WriteAsync(Written(Profile("mixed", ProfileType.Cpu, T0 - 5 * Second, ("k", "v"))), body, default);
        var kept = await store.Writer.WriteAsync(Written(Profile("mixed", ProfileType.Cpu, T0, ("k", "v"))), body, default);
        // Taken long before the cutoff but written after it (now): an import, an agent's queue after an outage.
        var late = await store.Writer.WriteAsync(Profile("late", ProfileType.Cpu, T0 - 20 * 86_400 * Second), body, default);

        var deleted = await store.Retention.DeleteOlderThanAsync(T0, T0, default);

        Assert.Equal(2, deleted);
        Assert.Empty(await store.Reader.GetAsync([old.Id], default));
        Assert.Empty(await store.Reader.OpenAsync([old.Id], default).ToListAsync());
        Assert.Equal([kept.Id], (await store.Reader.FindAsync(Query("mixed", 0, long.MaxValue, labels: [("k", "v")]), default)).Select(m => m.Id));
        Assert.Equal([late.Id], (await store.Reader.FindAsync(Query("late", 0, long.MaxValue), default)).Select(m => m.Id));
        Assert.Equal(body, (await store.Reader.OpenAsync([late.Id], default).ToListAsync()).Single());
        Assert.Equal(["late", "mixed"], await store.Reader.ListServicesAsync(default));

        // A service whose profiles all expired comes back when it writes again.
        await store.Writer.WriteAsync(Profile("old-only", ProfileType.Cpu, T0), body, default);
        Assert.Equal(["late", "mixed", "old-only"], await store.Reader.ListServicesAsync(default));
    }
}
