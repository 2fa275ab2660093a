using Hotpath.Pprof;
using Hotpath.Storage.Pieces;
using Hotpath.Storage.Sqlite;
using Hotpath.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotpath.Storage.Tests;

public sealed class SqliteProfileStoreTests : ProfileStoreContract
{
    protected override Task<IStoreUnderTest> CreateAsync() => Task.FromResult<IStoreUnderTest>(new SqliteUnderTest());

    private sealed class SqliteUnderTest : IStoreUnderTest
    {
        /// <param name="minMergedProfiles">2 where a test is of how pieces are merged (every piece of several parts is), not of thin ones.</param>
        public SqliteUnderTest(int? minMergedProfiles = null)
        {
            Options = new SqliteStoreOptions
            {
                DataDirectory = Path.Combine(Path.GetTempPath(), "hotpath-store-" + Guid.NewGuid().ToString("N")),
                MaxSegmentBytes = 256 * 1024, // small, so that tests cross segment boundaries
            };
            Options.MinMergedProfiles = minMergedProfiles ?? Options.MinMergedProfiles;
            Store = Open(Options);
        }

        public SqliteStoreOptions Options { get; }

        public SqliteProfileStore Store { get; private set; }

        public IProfileWriter Writer => Store;
        public IProfileReader Reader => Store;
        public IRetention Retention => Store;

        public async Task ReopenAsync()
        {
            await Store.DisposeAsync();
            Store = Open(Options);
        }

        public Task BuildPiecesAsync(DateTimeOffset now) => Store.BuildRollupsAsync(default);

        public async ValueTask DisposeAsync()
        {
            await Store.DisposeAsync();
            Directory.Delete(Options.DataDirectory, recursive: true);
        }
    }

    private static SqliteProfileStore Open(SqliteStoreOptions options) => SqliteProfileStore.Open(options, NullLogger<SqliteProfileStore>.Instance);

    [Fact]
    public async Task Reads_never_wait_for_a_write_transaction_that_holds_the_database()
    {
        await using var store = new SqliteUnderTest();
        await store.Store.WriteAsync(Profile("s", ProfileType.Cpu, T0), TestData.Bytes("cpu_1.pb.gz"), default);
        await using var writer = new SqliteConnection($"Data Source={store.Options.DatabasePath};Pooling=False");
        writer.Open();
        await using var command = writer.CreateCommand();
        // EXCLUSIVE: without WAL no reader gets in until it ends (the store's readers would wait 30 s).
        command.CommandText = "BEGIN EXCLUSIVE; INSERT INTO services(service) VALUES ('held');";
        command.ExecuteNonQuery();

        var found = await store.Store.FindAsync(new ProfileQuery("s", null, 0, long.MaxValue, []), default).WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Single(found);
        command.CommandText = "ROLLBACK";
        command.ExecuteNonQuery();
    }

    [Fact]
    public async Task Space_freed_by_retention_is_reused_by_later_writes()
    {
        await using var store = new SqliteUnderTest();
        var body = TestData.Bytes("cpu_2.pb.gz");
        for (var i = 0; i < 150; i++)
            await store.Store.WriteAsync(Written(Profile("s", ProfileType.Cpu, T0 + i)), body, default);
        await store.ReopenAsync(); // checkpoints the WAL into the database file
        var full = store.Store.SizeBytes;

        Assert.Equal(150, await store.Store.DeleteOlderThanAsync(T0 + Second, T0 + Second, default));
        for (var i = 0; i < 150; i++)
            await store.Store.WriteAsync(Profile("s", ProfileType.Cpu, T0 + 2 * Second + i), body, default);
        await store.ReopenAsync();

        // Without reuse the store would have doubled; one segment of slack is allowed.
        Assert.InRange(store.Store.SizeBytes, full * 8 / 10, full + store.Options.MaxSegmentBytes);
        Assert.Equal(150, (await store.Store.FindAsync(new ProfileQuery("s", null, 0, long.MaxValue, []), default)).Count);
    }

    [Fact]
    public async Task Bodies_take_their_own_size_on_disk_and_metadata_little_more()
    {
        await using var store = new SqliteUnderTest();
        var body = TestData.Bytes("cpu_2.pb.gz");
        for (var i = 0; i < 200; i++)
            await store.Store.WriteAsync(Profile("s", ProfileType.Cpu, T0 + i, ("region", "eu"), ("version", "1.4")), body, default);
        await store.ReopenAsync();

        var segments = Directory.EnumerateFiles(store.Options.BodiesDirectory).Sum(f => new FileInfo(f).Length);

        Assert.Equal(200L * body.Length, segments);
    }

    [Fact]
    public async Task Bytes_of_a_batch_that_never_committed_are_cut_off_at_the_next_start()
    {
        var store = new SqliteUnderTest();
        var meta = await store.Store.WriteAsync(Profile("s", ProfileType.Cpu, T0), TestData.Bytes("cpu_1.pb.gz"), default);
        await store.Store.DisposeAsync();
        // What a crash between syncing the bodies and committing the rows leaves behind.
        var active = Directory.EnumerateFiles(store.Options.BodiesDirectory).Order().Last();
        await File.AppendAllTextAsync(active, "half a batch");
        await File.WriteAllTextAsync(Path.Combine(store.Options.BodiesDirectory, "000099.seg"), "a rolled segment");

        await store.ReopenAsync();
        var written = await store.Store.WriteAsync(Profile("s", ProfileType.Cpu, T0), TestData.Bytes("cpu_2.pb.gz"), default);

        Assert.Equal(TestData.Bytes("cpu_1.pb.gz").Length + TestData.Bytes("cpu_2.pb.gz").Length, new FileInfo(active).Length);
        Assert.False(File.Exists(Path.Combine(store.Options.BodiesDirectory, "000099.seg")));
        Assert.Equal([TestData.Bytes("cpu_1.pb.gz"), TestData.Bytes("cpu_2.pb.gz")], await store.Store.OpenAsync([meta.Id, written.Id], default).ToListAsync());
        await store.DisposeAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Segments_emptied_by_a_retention_pass_cut_short_are_reclaimed_at_start_and_by_any_later_pass(bool atStart)
    {
        await using var store = new SqliteUnderTest();
        var body = TestData.Bytes("cpu_2.pb.gz");
        for (var i = 0; i < 60; i++)
            await store.Store.WriteAsync(Profile("s", ProfileType.Cpu, T0 + i), body, default);
        await store.Store.DisposeAsync();
        var first = Path.Combine(store.Options.BodiesDirectory, "000001.seg");
        Assert.True(File.Exists(first));
        // What a kill -9 leaves after a pass committed its deletes but before it removed the files.
        await using (var connection = new SqliteConnection($"Data Source={store.Options.DatabasePath};Pooling=False"))
        {
            connection.Open();
            await using var command = connection.CreateCommand();
            command.CommandText = "DELETE FROM profiles WHERE segment = 1; UPDATE segments SET live = 0 WHERE id = 1;";
            command.ExecuteNonQuery();
        }

        if (atStart)
        {
            await store.ReopenAsync();
        }
        else
        {
            File.Copy(first, first + ".keep");
            await store.ReopenAsync(); // reclaims it; put it back to see a pass that deletes nothing do the same
            File.Move(first + ".keep", first);
            await using (var connection = new SqliteConnection($"Data Source={store.Options.DatabasePath};Pooling=False"))
            {
                connection.Open();
                await using var command = connection.CreateCommand();
                command.CommandText = "INSERT INTO segments(id, live, end_offset) VALUES (1, 0, 0)";
                command.ExecuteNonQuery();
            }

            Assert.Equal(0, await store.Store.DeleteOlderThanAsync(T0 - 1, T0 - 1, default));
        }

        Assert.False(File.Exists(first));
        var left = await store.Store.FindAsync(new ProfileQuery("s", null, 0, long.MaxValue, []), default);
        Assert.InRange(left.Count, 1, 59);
        Assert.Equal(left.Count, (await store.Store.OpenAsync([.. left.Select(m => m.Id)], default).ToListAsync()).Count);
    }

    private static async Task<long[]> MergedTotalsAsync(SqliteProfileStore store, ProfileQuery query) =>
        await PieceMergerAsync(store, query) is { Count: > 0 } merger ? merger.Build().Totals() : [];

    [Fact]
    public async Task A_backfill_is_built_from_the_profiles_ingest_decoded_and_merges_of_it_equal_those_of_its_raw_profiles()
    {
        await using var store = new SqliteUnderTest(minMergedProfiles: 2);
        var minute = 60 * Second;
        var start = T0 - 30 * 24 * 60 * minute; // a month before: nothing about it is recent
        // Four agents once a minute for twenty minutes and one that sends three times a minute, written as ingest writes
        // them: each with the profile it decoded.
        for (var m = 0; m < 20; m++)
        {
            for (var host = 0; host < 4; host++)
                await WriteDecodedAsync(store.Store, start + m * minute + host * 5 * Second, $"h{host}", TestData.CpuProfiles[(m + host) % 3]);
            for (var i = 0; i < 3; i++)
                await WriteDecodedAsync(store.Store, start + m * minute + (30 + i * 5) * Second, "busy", TestData.CpuProfiles[i]);
        }

        await store.Store.BuildRollupsAsync(default);

        // Every minute of the service (5 sets each), and both ten minutes of each agent that sends once a minute.
        Assert.Equal(20 + 2 * 4, store.Store.PiecesFromIngest);
        foreach (var (from, to, host) in new[]
                 {
                     (start, start + 20 * minute - 1, ""), (start, start + 20 * minute - 1, "h1"), (start, start + 20 * minute - 1, "busy"),
                     (start + 3 * minute + 7 * Second, start + 17 * minute, ""), (start + 10 * minute, start + 11 * minute - 1, "h3"),
                 })
        {
            var query = new ProfileQuery("backfill", ProfileType.Cpu, from, to, host == "" ? [] : [new ProfileLabel("host", host)]);
            Assert.Equal(await RawMergeAsync(store.Store, query), CanonicalProfile.Of((await PieceMergerAsync(store.Store, query)).Build()));
        }
    }

    [Fact]
    public async Task A_label_sets_minute_of_one_profile_points_at_it_from_its_write_and_a_second_profile_there_is_merged_with_it()
    {
        await using var store = new SqliteUnderTest(minMergedProfiles: 2);
        var minute = BucketGrid.Floor(BucketGrid.Minute, T0) + 60 * Second;
        var query = new ProfileQuery("backfill", ProfileType.Cpu, minute, minute + 60 * Second - 1, [new ProfileLabel("host", "a")]);

        await WriteDecodedAsync(store.Store, minute + 5 * Second, "a", "cpu_1.pb.gz");

        // Due: the set's ten minutes, hour and day, and the service's four; the set's minute is its pointer already.
        Assert.Equal(3 + 4, store.Store.PendingBuckets);
        Assert.Equal(TestData.Totals["cpu_1.pb.gz"], await MergedTotalsAsync(store.Store, query));
        await store.Store.BuildRollupsAsync(default);

        await WriteDecodedAsync(store.Store, minute + 35 * Second, "a", "cpu_2.pb.gz");

        Assert.Equal(4 + 4, store.Store.PendingBuckets);
        await store.Store.BuildRollupsAsync(default);
        Assert.Equal(await RawMergeAsync(store.Store, query), CanonicalProfile.Of((await PieceMergerAsync(store.Store, query)).Build()));
        Assert.Equal(TestData.Sum([TestData.Totals["cpu_1.pb.gz"], TestData.Totals["cpu_2.pb.gz"]]), await MergedTotalsAsync(store.Store, query));
        var source = await store.Store.OpenMergeAsync(query, 10_000, default);
        Assert.Equal((2, 0), (source.Profiles, source.RawProfiles));
    }

    [Fact]
    public async Task A_backfilled_minute_is_built_from_its_fold_before_its_writes_settle_and_again_after_a_late_write()
    {
        await using var store = new SqliteUnderTest(minMergedProfiles: 2);
        var minute = BucketGrid.Floor(BucketGrid.Minute, T0) + 60 * Second; // long over: no agent is still uploading it
        var query = new ProfileQuery("backfill", ProfileType.Cpu, minute, minute + 60 * Second - 1, []);
        for (var i = 0; i < 3; i++)
            await WriteDecodedAsync(store.Store, minute + i * 5 * Second, $"h{i}", TestData.CpuProfiles[i]);

        // A moment after the writes, before they settle: the service's minute is built from its fold all the same.
        await store.Store.BuildPiecesAsync(DateTimeOffset.UtcNow + BucketGrid.Settle / 4, default);

        Assert.Equal(1, store.Store.PiecesFromIngest);
        var source = await store.Store.OpenMergeAsync(query, 10_000, default);
        Assert.Equal((3, 0), (source.Profiles, source.RawProfiles));
        Assert.Equal(await RawMergeAsync(store.Store, query), CanonicalProfile.Of((await PieceMergerAsync(store.Store, query)).Build()));

        await WriteDecodedAsync(store.Store, minute + 50 * Second, "late", TestData.CpuProfiles[0]);
        await store.Store.BuildPiecesAsync(DateTimeOffset.UtcNow + BucketGrid.Settle / 4, default);

        Assert.Equal(2, store.Store.PiecesFromIngest);
        Assert.Equal(await RawMergeAsync(store.Store, query), CanonicalProfile.Of((await PieceMergerAsync(store.Store, query)).Build()));
        Assert.Equal(TestData.Sum([.. TestData.CpuProfiles.Select(f => TestData.Totals[f]), TestData.Totals[TestData.CpuProfiles[0]]]), await MergedTotalsAsync(store.Store, query));
    }

    [Fact]
    public async Task A_minute_late_agents_may_still_upload_is_built_only_once_its_writes_settle()
    {
        await using var store = new SqliteUnderTest(minMergedProfiles: 2);
        var now = DateTimeOffset.UtcNow;
        var minute = BucketGrid.Floor(BucketGrid.Minute, UnixNanos.From(now)) - 60 * Second; // over, but only just
        for (var i = 0; i < 2; i++)
            await WriteDecodedAsync(store.Store, minute + i * 5 * Second, $"h{i}", TestData.CpuProfiles[i]);

        await store.Store.BuildPiecesAsync(DateTimeOffset.UtcNow + BucketGrid.Settle / 4, default);
        Assert.Equal(0, store.Store.PiecesFromIngest);

        await store.Store.BuildPiecesAsync(DateTimeOffset.UtcNow + BucketGrid.Settle + TimeSpan.FromSeconds(1), default);
        Assert.Equal(1, store.Store.PiecesFromIngest);
    }

    private static async Task WriteDecodedAsync(SqliteProfileStore store, long createdAt, string host, string file, string? version = null)
    {
        var decoded = new RawProfile();
        new ProfileDecoder().Load(TestData.Bytes(file), decoded);
        var profile = Written(version is null ? Profile("backfill", ProfileType.Cpu, createdAt, ("host", host))
            : Profile("backfill", ProfileType.Cpu, createdAt, ("host", host), ("version", version))) with { Decoded = decoded };
        await store.WriteAsync(profile, TestData.Bytes(file), default);
    }

    /// <summary>A fleet's twenty minutes: each of the hosts once a minute (each minute's at once), version 1.4 or 1.5 as the host's parity.</summary>
    private static async Task WriteFleetAsync(SqliteProfileStore store, long start, int firstHost, int hosts, Func<int, string>? version = null)
    {
        for (var m = 0; m < 20; m++)
        {
            await Task.WhenAll(Enumerable.Range(firstHost, hosts).Select(host => WriteDecodedAsync(store, start + m * 60 * Second + host * 100_000_000L, $"h{host}",
                TestData.CpuProfiles[(m + host) % 3], (version ?? (h => h % 2 == 0 ? "1.4" : "1.5"))(host))));
        }
    }

    /// <summary>Hosts enough for two versions to be grouped (<see cref="LabelGroups.MinSetsPerValue"/> label sets each).</summary>
    private const int GroupedFleet = 2 * LabelGroups.MinSetsPerValue;

    private static async Task<int> PartsAsync(SqliteProfileStore store, ProfileQuery query) =>
        await (await store.OpenMergeAsync(query, 10_000, default)).Bodies.CountAsync();

    [Fact]
    public async Task A_filter_on_a_label_the_fleet_shares_reads_one_piece_of_its_group_per_bucket_and_merges_as_its_raw_profiles_do()
    {
        await using var store = new SqliteUnderTest();
        var start = BucketGrid.Floor(BucketGrid.Hour, T0) - 30L * 24 * 3_600 * Second;
        var twenty = new ProfileQuery("backfill", ProfileType.Cpu, start, start + 20 * 60 * Second - 1, [new ProfileLabel("version", "1.5")]);
        // Half the hosts: each version's sets are read one by one.
        await WriteFleetAsync(store.Store, start, 0, GroupedFleet / 2);
        await store.Store.BuildRollupsAsync(default);
        Assert.Equal(GroupedFleet / 4 * 2, await PartsAsync(store.Store, twenty));

        // All: the version is grouped, its pieces made for what was written before too.
        await WriteFleetAsync(store.Store, start, GroupedFleet / 2, GroupedFleet / 2);
        await store.Store.BuildRollupsAsync(default);

        Assert.Equal(2, await PartsAsync(store.Store, twenty)); // the group's two ten minutes
        // Grouped by the version: from its groups, one point per value and ten minutes, as many profiles as were written.
        var byVersion = await store.Store.SeriesByLabelAsync(twenty with { Labels = [] }, "version", 10 * 60 * Second, default);
        Assert.Equal([("1.4", 2, GroupedFleet / 2 * 20), ("1.5", 2, GroupedFleet / 2 * 20)],
            byVersion.GroupBy(p => p.Value).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => (g.Key, g.Count(), g.Sum(p => p.Point.Profiles))));
        foreach (var query in new[]
                 {
                     twenty, twenty with { FromUnixNanos = start + 3 * 60 * Second + 7 * Second, ToUnixNanos = start + 17 * 60 * Second },
                     twenty with { Labels = [new ProfileLabel("host", "h3"), new ProfileLabel("version", "1.5")] },
                 })
        {
            Assert.Equal(await RawMergeAsync(store.Store, query), CanonicalProfile.Of((await PieceMergerAsync(store.Store, query)).Build()));
        }
    }

    [Fact]
    public async Task A_label_whose_values_outgrow_its_groups_loses_them_and_filters_on_it_read_the_label_sets_as_exactly()
    {
        await using var store = new SqliteUnderTest();
        var start = BucketGrid.Floor(BucketGrid.Hour, T0) - 30L * 24 * 3_600 * Second;
        var twenty = new ProfileQuery("backfill", ProfileType.Cpu, start, start + 20 * 60 * Second - 1, [new ProfileLabel("version", "1.5")]);
        await WriteFleetAsync(store.Store, start, 0, GroupedFleet);
        await store.Store.BuildRollupsAsync(default);
        Assert.Equal(2, await PartsAsync(store.Store, twenty));

        // Eight more hosts of a version each: 10 values, past LabelGroups.MaxValues.
        await WriteFleetAsync(store.Store, start, GroupedFleet, 8, host => $"2.{host}");
        await store.Store.BuildRollupsAsync(default);

        Assert.Equal(GroupedFleet / 2 * 2, await PartsAsync(store.Store, twenty)); // 1.5's sets, two ten minutes each
        Assert.Equal(await RawMergeAsync(store.Store, twenty), CanonicalProfile.Of((await PieceMergerAsync(store.Store, twenty)).Build()));
        Assert.Equal(0, store.Store.PendingBuckets);
    }

    private static async Task<string> RawMergeAsync(SqliteProfileStore store, ProfileQuery query)
    {
        var found = await store.FindAsync(query, default);
        Assert.NotEmpty(found);
        var merger = new ProfileMerger();
        await foreach (var body in store.OpenAsync([.. found.Select(m => m.Id)], default))
            merger.Add(new ProfileDecoder().Decode(body));
        return CanonicalProfile.Of(merger.Build());
    }

    /// <summary>The merge of a query as the store plans it: its pieces, and raw profiles where none covers.</summary>
    private static async Task<ProfileMerger> PieceMergerAsync(SqliteProfileStore store, ProfileQuery query)
    {
        var source = await store.OpenMergeAsync(query, 10_000, default);
        var merger = new ProfileMerger();
        await foreach (var body in source.Bodies)
            merger.Add(new ProfileDecoder().Decode(body));
        return merger;
    }

    [Fact]
    public async Task After_raw_retention_a_merge_of_whole_hours_is_still_answered_from_the_pieces_until_the_aggregate_cutoff()
    {
        await using var store = new SqliteUnderTest(minMergedProfiles: 2);
        var hour = 3_600 * Second;
        for (var i = 0; i < 12; i++)
            await store.Store.WriteAsync(Written(Profile("s", ProfileType.Cpu, T0 + i * hour / 4)), TestData.Bytes(TestData.CpuProfiles[i % 3]), default);
        // Alone in its day: its hour and day pieces point at it rather than copy it, until it expires.
        await store.Store.WriteAsync(Written(Profile("s", ProfileType.Cpu, T0 + 53 * hour)), TestData.Bytes("cpu_2.pb.gz"), default);
        await store.Store.BuildRollupsAsync(default);
        var secondDay = new ProfileQuery("s", ProfileType.Cpu, T0 + 48 * hour, T0 + 72 * hour - 1, []);
        var rollupBytes = store.Store.RollupBytes;
        var threeHours = new ProfileQuery("s", ProfileType.Cpu, T0, T0 + 3 * hour - 1, []);
        var expected = TestData.Sum(Enumerable.Range(0, 12).Select(i => TestData.Totals[TestData.CpuProfiles[i % 3]]));
        Assert.Equal(expected, await MergedTotalsAsync(store.Store, threeHours));

        Assert.Equal(13, await store.Store.DeleteOlderThanAsync(T0 + 60 * hour, long.MinValue, default));

        Assert.Empty(await store.Store.FindAsync(new ProfileQuery("s", null, 0, long.MaxValue, []), default));
        Assert.Equal(expected, await MergedTotalsAsync(store.Store, threeHours));
        var source = await store.Store.OpenMergeAsync(threeHours, 10_000, default);
        Assert.Equal((12, 0), (source.Profiles, source.RawProfiles));
        Assert.Equal(TestData.Totals["cpu_2.pb.gz"], await MergedTotalsAsync(store.Store, secondDay));
        // Its hour and day pieces took a copy, in its own label set and in the all-labels one.
        Assert.Equal(rollupBytes + 4 * TestData.Bytes("cpu_2.pb.gz").Length, store.Store.RollupBytes);

        await store.Store.DeleteOlderThanAsync(T0 + 60 * hour, T0 + 4 * hour, default);
        Assert.Empty(await MergedTotalsAsync(store.Store, threeHours));
        Assert.Equal(TestData.Totals["cpu_2.pb.gz"], await MergedTotalsAsync(store.Store, secondDay));
    }

    [Fact]
    public async Task Buckets_of_fewer_profiles_than_a_merge_needs_keep_thin_pieces_that_merge_and_count_as_their_raw_profiles_do()
    {
        await using var store = new SqliteUnderTest();
        var minute = 60 * Second;
        // A quiet set: three profiles in one ten minutes, two more later in the hour, one the next day.
        foreach (var at in new[] { 1, 4, 7, 25, 48 })
            await store.Store.WriteAsync(Written(Profile("s", ProfileType.Cpu, T0 + at * minute, ("host", "a"))), TestData.Bytes(TestData.CpuProfiles[at % 3]), default);
        await store.Store.WriteAsync(Written(Profile("s", ProfileType.Cpu, T0 + 26 * 60 * minute, ("host", "a"))), TestData.Bytes("cpu_2.pb.gz"), default);
        await store.Store.BuildRollupsAsync(default);

        // Minutes point at their one profile; every coarser piece of the set and of all labels holds its counts only.
        Assert.Equal(0, store.Store.RollupBytes);
        Assert.Equal(0, store.Store.PendingBuckets);
        var day = new ProfileQuery("s", ProfileType.Cpu, T0, T0 + 48 * 60 * minute - 1, []);
        foreach (var query in new[]
                 {
                     day, day with { Labels = [new ProfileLabel("host", "a")] }, day with { ToUnixNanos = T0 + 60 * minute - 1 },
                     day with { FromUnixNanos = T0 + 3 * minute, ToUnixNanos = T0 + 30 * minute },
                 })
        {
            Assert.Equal(await RawMergeAsync(store.Store, query), CanonicalProfile.Of((await PieceMergerAsync(store.Store, query)).Build()));
        }

        // A series reads the thin pieces' counts, not their parts.
        var points = await store.Store.SeriesAsync(day, 24 * 60 * minute, default);
        Assert.Equal([(T0, 5), (T0 + 24 * 60 * minute, 1)], points.Select(p => (p.TimeUnixNanos, p.Profiles)));

        // Enough profiles in the hour, and its pieces are merged (a copy), and merge as the raw profiles do.
        for (var at = 30; at < 36; at++)
            await store.Store.WriteAsync(Written(Profile("s", ProfileType.Cpu, T0 + at * minute, ("host", "a"))), TestData.Bytes(TestData.CpuProfiles[at % 3]), default);
        await store.Store.BuildRollupsAsync(default);
        Assert.True(store.Store.RollupBytes > 0);
        var source = await store.Store.OpenMergeAsync(day with { ToUnixNanos = T0 + 60 * minute - 1 }, 10_000, default);
        Assert.Equal((11, 0), (source.Profiles, source.RawProfiles));
        Assert.Equal(await RawMergeAsync(store.Store, day), CanonicalProfile.Of((await PieceMergerAsync(store.Store, day)).Build()));
    }

    [Fact]
    public async Task A_bucket_of_few_parts_that_hold_many_profiles_is_merged_not_thin()
    {
        await using var store = new SqliteUnderTest();
        var minute = 60 * Second;
        // Eight agents in three minutes of one ten minutes: each minute of the service merges eight profiles, and the
        // ten minutes has three parts but 24 profiles.
        for (var m = 0; m < 3; m++)
        {
            for (var host = 0; host < 8; host++)
                await store.Store.WriteAsync(Written(Profile("s", ProfileType.Cpu, T0 + m * minute + host * Second, ("host", $"h{host}"))), TestData.Bytes(TestData.CpuProfiles[host % 3]), default);
        }

        await store.Store.BuildRollupsAsync(default);

        var tenMinutes = new ProfileQuery("s", ProfileType.Cpu, T0, T0 + 10 * minute - 1, []);
        Assert.Equal(1, await PartsAsync(store.Store, tenMinutes));
        Assert.Equal(await RawMergeAsync(store.Store, tenMinutes), CanonicalProfile.Of((await PieceMergerAsync(store.Store, tenMinutes)).Build()));
    }

    [Fact]
    public async Task A_thin_hour_is_merged_whole_before_its_raw_profiles_expire_and_outlives_them()
    {
        await using var store = new SqliteUnderTest();
        var hour = 3_600 * Second;
        for (var i = 0; i < 3; i++)
            await store.Store.WriteAsync(Written(Profile("s", ProfileType.Cpu, T0 + i * hour / 4)), TestData.Bytes(TestData.CpuProfiles[i]), default);
        await store.Store.BuildRollupsAsync(default);
        Assert.Equal(0, store.Store.RollupBytes);
        var theHour = new ProfileQuery("s", ProfileType.Cpu, T0, T0 + hour - 1, []);
        var expected = await RawMergeAsync(store.Store, theHour);

        Assert.Equal(3, await store.Store.DeleteOlderThanAsync(T0 + 10 * hour, long.MinValue, default));

        Assert.Empty(await store.Store.FindAsync(theHour, default));
        Assert.True(store.Store.RollupBytes > 0);
        var source = await store.Store.OpenMergeAsync(theHour, 10_000, default);
        Assert.Equal((3, 0), (source.Profiles, source.RawProfiles));
        Assert.Equal(expected, CanonicalProfile.Of((await PieceMergerAsync(store.Store, theHour)).Build()));
    }

    [Theory]
    [InlineData(2, "DROP TABLE rollups; DROP TABLE rollup_dirty; DROP TABLE label_sets;")]
    [InlineData(3, "ALTER TABLE rollup_dirty DROP COLUMN touched;")]
    public async Task A_store_of_an_earlier_format_is_opened_with_every_profile_marked_and_merges_agree(int format, string downgrade)
    {
        var store = new SqliteUnderTest();
        for (var i = 0; i < 6; i++)
            await store.Store.WriteAsync(Profile("s", ProfileType.Cpu, T0 + i * 90 * Second, ("v", "1")), TestData.Bytes(TestData.CpuProfiles[i % 3]), default);
        await store.Store.DisposeAsync();
        // What a store of format 2 holds: no pieces, no marks; of format 3: marks without their time.
        await using (var connection = new SqliteConnection($"Data Source={store.Options.DatabasePath};Pooling=False"))
        {
            connection.Open();
            await using var command = connection.CreateCommand();
            command.CommandText = downgrade + $"PRAGMA user_version = {format};";
            command.ExecuteNonQuery();
        }

        await store.ReopenAsync();
        if (format == 2)
            Assert.True(store.Store.PendingBuckets > 0); // format 3 kept its marks and pieces
        await store.Store.BuildRollupsAsync(default);

        var all = new ProfileQuery("s", ProfileType.Cpu, T0, T0 + 3_600 * Second, [new ProfileLabel("v", "1")]);
        Assert.Equal(0, store.Store.PendingBuckets);
        Assert.Equal(TestData.Sum(Enumerable.Range(0, 6).Select(i => TestData.Totals[TestData.CpuProfiles[i % 3]])), await MergedTotalsAsync(store.Store, all));
        await store.DisposeAsync();
    }

    [Fact]
    public async Task A_data_directory_of_another_format_is_refused()
    {
        var directory = Path.Combine(Path.GetTempPath(), "hotpath-store-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(directory, "hotpath.db")};Pooling=false"))
        {
            connection.Open();
            await using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE profiles(x); PRAGMA user_version = 99;";
            command.ExecuteNonQuery();
        }

        var e = Assert.Throws<InvalidOperationException>(() => Open(new SqliteStoreOptions { DataDirectory = directory }));

        Assert.Contains("format 99", e.Message);
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task Labels_with_commas_equals_quotes_and_unicode_round_trip()
    {
        await using var store = new SqliteUnderTest();
        var meta = await store.Store.WriteAsync(Profile("s", ProfileType.Cpu, T0, ("path", "/a,b=c \"d\""), ("city", "zürich"), ("empty", "")), new byte[] { 1 }, default);

        var found = Assert.Single(await store.Store.FindAsync(new ProfileQuery("s", null, T0, T0, [new ProfileLabel("path", "/a,b=c \"d\"")]), default));

        Assert.Equal(meta.Labels, found.Labels);
    }

    [Fact]
    public async Task Writes_after_dispose_fail_as_unavailable_rather_than_hang()
    {
        var store = new SqliteUnderTest();
        await store.DisposeAsync();

        await Assert.ThrowsAsync<StorageUnavailableException>(() => store.Store.WriteAsync(Profile("s", ProfileType.Cpu, T0), new byte[] { 1 }, default));
    }
}
