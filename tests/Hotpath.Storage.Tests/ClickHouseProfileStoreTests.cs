using Hotpath.Pprof;
using Hotpath.Storage.ClickHouse;
using Hotpath.Storage.Journal;
using Hotpath.Storage.Pieces;
using Hotpath.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Hotpath.Storage.Tests;

/// <summary>The storage contract on a real ClickHouse server, each test in its own database.</summary>
public sealed class ClickHouseProfileStoreTests : ProfileStoreContract
{
    protected override Task<IStoreUnderTest> CreateAsync()
    {
        var options = ClickHouseServer.Instance.NewDatabase();
        return Task.FromResult<IStoreUnderTest>(new OpenedStore(() => new ClickHouseProfileStore(options), (store, now) => ((ClickHouseProfileStore)store).BuildBucketsAsync(now, default)));
    }

    [Fact]
    public async Task Whole_hours_and_ten_minutes_are_merged_from_bucket_pieces_while_they_hold_exactly_the_profiles_stored()
    {
        await using var store = new ClickHouseProfileStore(ClickHouseServer.Instance.NewDatabase());
        const long Hour = 3_600_000_000_000;
        string[] files = ["cpu_1.pb.gz", "cpu_2.pb.gz", "cpu_3.pb.gz"];
        for (var i = 0; i < 36; i++)
        {
            // Three hours, two hosts, a profile every 10 minutes each.
            await store.WriteAsync(new NewProfile("api", ProfileType.Cpu, $"pod-{i % 2}", [new ProfileLabel("host", $"h{i % 2}")], T0 + i / 2 * (Hour / 6) + i % 2),
                TestData.Bytes(files[i % files.Length]), default);
        }

        var later = DateTimeOffset.FromUnixTimeMilliseconds(T0 / 1_000_000).AddHours(4);
        Assert.Equal(3 + 18, await store.BuildBucketsAsync(later, default)); // 3 hours, 18 ten minutes
        Assert.Equal(0, await store.BuildBucketsAsync(later, default));

        // Hour 1 from its hour pieces, the second half of hour 0 and 2:00-2:20 from 10-minute pieces, 2:20-2:25 raw.
        var all = new ProfileQuery("api", ProfileType.Cpu, T0 + Hour / 2, T0 + 2 * Hour + 25 * 60_000_000_000, []);
        var source = await store.OpenMergeAsync(all, 10_000, default);
        Assert.Equal((24, 2), (source.Profiles, source.RawProfiles));
        Assert.Equal(await RawMergeAsync(store, all), await MergeAsync(source.Bodies));

        var host = all with { Labels = [new ProfileLabel("host", "h1")] };
        var ofHost = await store.OpenMergeAsync(host, 10_000, default);
        Assert.Equal((12, 1), (ofHost.Profiles, ofHost.RawProfiles));
        Assert.Equal(await RawMergeAsync(store, host), await MergeAsync(ofHost.Bodies));

        // A late profile in the first 10 minutes of hour 1: they are read raw until the next pass builds them again.
        await store.WriteAsync(new NewProfile("api", ProfileType.Cpu, "pod-9", [new ProfileLabel("host", "h9")], T0 + Hour + 5), TestData.Bytes("cpu_1.pb.gz"), default);
        var late = await store.OpenMergeAsync(all, 10_000, default);
        Assert.Equal((25, 2 + 3), (late.Profiles, late.RawProfiles));
        Assert.Equal(await RawMergeAsync(store, all), await MergeAsync(late.Bodies));
        Assert.Equal(2, await store.BuildBucketsAsync(later, default)); // that hour and those 10 minutes
        Assert.Equal(2, (await store.OpenMergeAsync(all, 10_000, default)).RawProfiles);
    }

    [Fact]
    public async Task A_filter_on_a_label_the_fleet_shares_is_merged_from_its_groups_pieces_while_they_count_what_the_profiles_table_holds()
    {
        await using var store = new ClickHouseProfileStore(ClickHouseServer.Instance.NewDatabase());
        const long Minute = 60_000_000_000;
        var start = BucketGrid.Floor(BucketGrid.Hour, T0);
        const int Hosts = 2 * LabelGroups.MinSetsPerValue; // enough for two versions to be grouped
        for (var m = 0; m < 20; m++)
        {
            // Every host once a minute (a minute's at once), version 1.4 or 1.5 as the host's parity.
            await Task.WhenAll(Enumerable.Range(0, Hosts).Select(host => store.WriteAsync(new NewProfile("api", ProfileType.Cpu, $"pod-{host}",
                [new("host", $"h{host}"), new("version", host % 2 == 0 ? "1.4" : "1.5")], start + m * Minute + host * 100_000_000L),
                TestData.Bytes(TestData.CpuProfiles[(m + host) % 3]), default)));
        }

        var later = DateTimeOffset.FromUnixTimeMilliseconds(start / 1_000_000).AddHours(2);
        await store.BuildBucketsAsync(later, default);
        var version = new ProfileQuery("api", ProfileType.Cpu, start, start + 20 * Minute - 1, [new ProfileLabel("version", "1.5")]);

        Assert.Equal(2, await (await store.OpenMergeAsync(version, 10_000, default)).Bodies.CountAsync()); // the group's two ten minutes
        Assert.Equal(await RawMergeAsync(store, version), await MergeAsync((await store.OpenMergeAsync(version, 10_000, default)).Bodies));
        var edges = version with { FromUnixNanos = start + 3 * Minute + 7_000_000_000, ToUnixNanos = start + 17 * Minute };
        Assert.Equal(await RawMergeAsync(store, edges), await MergeAsync((await store.OpenMergeAsync(edges, 10_000, default)).Bodies));

        // A late profile of the version: its ten minutes are read finer until the next pass builds the group's piece again.
        await store.WriteAsync(new NewProfile("api", ProfileType.Cpu, "pod-9", [new("host", "h9"), new("version", "1.5")], start + 5 * Minute),
            TestData.Bytes("cpu_1.pb.gz"), default);
        var late = await store.OpenMergeAsync(version, 10_000, default);
        Assert.Equal((Hosts / 2 * 20 + 1, Hosts / 2 * 10 + 1), (late.Profiles, late.RawProfiles));
        Assert.Equal(await RawMergeAsync(store, version), await MergeAsync(late.Bodies));
        await store.BuildBucketsAsync(later, default);
        var rebuilt = await store.OpenMergeAsync(version, 10_000, default);
        Assert.Equal((Hosts / 2 * 20 + 1, 0), (rebuilt.Profiles, rebuilt.RawProfiles));
    }

    [Fact]
    public async Task Ten_minutes_written_through_the_journal_are_built_from_what_ingest_decoded_once_their_writes_have_landed()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var journal = Directory.CreateTempSubdirectory("hotpath-folds-");
        try
        {
            var engine = new ClickHouseProfileStore(ClickHouseServer.Instance.NewDatabase(), time: time);
            await using var store = new JournaledProfileStore(engine, journal.FullName, 1L << 30);
            using var stopShipping = new CancellationTokenSource();
            var shipping = store.ShipAsync(stopShipping.Token);
            const long Minute = 60_000_000_000;
            var start = BucketGrid.Floor(BucketGrid.Hour, T0);
            var later = DateTimeOffset.FromUnixTimeMilliseconds(start / 1_000_000).AddHours(2);

            // Two agents once a minute for twenty minutes, written as ingest writes them (with the profile it decoded), and
            // a third agent's one profile from a caller that decoded nothing.
            for (var m = 0; m < 20; m++)
            {
                for (var host = 0; host < 2; host++)
                    await store.WriteAsync(Decoded(start + m * Minute + host, $"h{host}", TestData.CpuProfiles[(m + host) % 3]), TestData.Bytes(TestData.CpuProfiles[(m + host) % 3]), default);
            }

            await store.WriteAsync(new NewProfile("api", ProfileType.Cpu, "pod-2", [new("host", "h2")], start + 5 * Minute), TestData.Bytes("cpu_1.pb.gz"), default);
            await Eventually.TrueAsync(() => store.PendingProfiles == 0, TimeSpan.FromSeconds(30), "the journal was not shipped");
            time.Advance(TimeSpan.FromSeconds(1));
            await engine.BuildBucketsAsync(later, default);

            // Each agent's two ten minutes and the service's second (its first holds the profile nothing decoded: read raw).
            Assert.Equal(2 * 2 + 1, engine.PiecesFromIngest);
            var all = new ProfileQuery("api", ProfileType.Cpu, start, start + 20 * Minute - 1, []);
            var ofHost = all with { Labels = [new ProfileLabel("host", "h1")] };
            foreach (var query in new[] { all, ofHost, all with { FromUnixNanos = start + 3 * Minute, ToUnixNanos = start + 17 * Minute } })
            {
                var source = await engine.OpenMergeAsync(query, 10_000, default);
                Assert.Equal(await RawMergeAsync(engine, query), await MergeAsync(source.Bodies));
            }

            Assert.Equal((41, 0), ((await engine.OpenMergeAsync(all, 10_000, default)).Profiles, (await engine.OpenMergeAsync(all, 10_000, default)).RawProfiles));

            // A third ten minutes, and one more profile in it that the journal holds, not shipped: its pieces wait for it
            // while it may still land, then are built from what did.
            for (var m = 20; m < 23; m++)
                await store.WriteAsync(Decoded(start + m * Minute, "h0", "cpu_1.pb.gz"), TestData.Bytes("cpu_1.pb.gz"), default);
            await Eventually.TrueAsync(() => store.PendingProfiles == 0, TimeSpan.FromSeconds(30), "the journal was not shipped");
            await stopShipping.CancelAsync();
            await shipping.WaitAsync(TimeSpan.FromSeconds(30));
            await store.WriteAsync(Decoded(start + 23 * Minute, "h0", "cpu_2.pb.gz"), TestData.Bytes("cpu_2.pb.gz"), default);
            time.Advance(TimeSpan.FromSeconds(1));
            var third = all with { FromUnixNanos = start + 20 * Minute, ToUnixNanos = start + 30 * Minute - 1 };
            await engine.BuildBucketsAsync(later, default);
            Assert.Equal((3, 3), ((await engine.OpenMergeAsync(third, 10_000, default)).Profiles, (await engine.OpenMergeAsync(third, 10_000, default)).RawProfiles));
            time.Advance(TimeSpan.FromMinutes(1));
            await engine.BuildBucketsAsync(later, default);
            Assert.Equal((3, 0), ((await engine.OpenMergeAsync(third, 10_000, default)).Profiles, (await engine.OpenMergeAsync(third, 10_000, default)).RawProfiles));
            Assert.Equal(2 * 2 + 1, engine.PiecesFromIngest);
            Assert.Equal(await RawMergeAsync(engine, third), await MergeAsync((await engine.OpenMergeAsync(third, 10_000, default)).Bodies));
        }
        finally
        {
            journal.Delete(recursive: true);
        }
    }

    private static NewProfile Decoded(long createdAt, string host, string file)
    {
        var decoded = new RawProfile();
        new ProfileDecoder().Load(TestData.Bytes(file), decoded);
        return new NewProfile("api", ProfileType.Cpu, $"pod-{host}", [new("host", host)], createdAt) { Decoded = decoded };
    }

    private static async Task<string> RawMergeAsync(ClickHouseProfileStore store, ProfileQuery query) =>
        await MergeAsync((await MergeSource.FromFindAsync(store, query, 10_000, default)).Bodies);

    private static async Task<string> MergeAsync(IAsyncEnumerable<byte[]> bodies)
    {
        var merger = new ProfileMerger();
        var decoder = new ProfileDecoder();
        await foreach (var body in bodies)
        {
            var raw = new RawProfile();
            decoder.Load(body, raw);
            merger.Add(raw);
        }

        return CanonicalProfile.Of(merger.Build());
    }

    [Fact]
    public async Task Quotes_and_backslashes_in_names_and_labels_are_data_not_sql()
    {
        await using var store = new ClickHouseProfileStore(ClickHouseServer.Instance.NewDatabase());
        var service = "it's \\ a service'); DROP TABLE profiles; --";

        var meta = await store.WriteAsync(new NewProfile(service, ProfileType.Cpu, "", [new ProfileLabel("k'", "v\\'")], T0), new byte[] { 9 }, default);

        Assert.Equal(meta, Assert.Single(await store.FindAsync(new ProfileQuery(service, null, T0, T0, [new ProfileLabel("k'", "v\\'")]), default)));
        Assert.Equal([service], await store.ListServicesAsync(default));
    }

    [Fact]
    public async Task A_batch_clickhouse_did_not_take_is_logged_with_its_event_id()
    {
        var logger = new ListLogger();
        var options = ClickHouseServer.Instance.NewDatabase() with { Url = $"http://127.0.0.1:{CollectorProcess.FreePort()}", Timeout = TimeSpan.FromSeconds(2) };
        await using var store = new ClickHouseProfileStore(options, logger);

        await Assert.ThrowsAsync<StorageUnavailableException>(() => store.WriteAsync(new NewProfile("api", ProfileType.Cpu, "", [], T0), TestData.Bytes("cpu_1.pb.gz"), default));

        var (level, id, message) = Assert.Single(logger.Entries);
        Assert.Equal((Microsoft.Extensions.Logging.LogLevel.Warning, 300), (level, id));
        Assert.Contains("batch of 1 writes", message);
    }

    private sealed class ListLogger : Microsoft.Extensions.Logging.ILogger<ClickHouseProfileStore>
    {
        public List<(Microsoft.Extensions.Logging.LogLevel Level, int Id, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Entries)
                Entries.Add((logLevel, eventId.Id, formatter(state, exception)));
        }
    }

    [Fact]
    public async Task An_unreachable_server_makes_a_store_whose_every_call_is_unavailable()
    {
        var options = ClickHouseServer.Instance.NewDatabase() with { Url = $"http://127.0.0.1:{CollectorProcess.FreePort()}" };

        await using var store = new ClickHouseProfileStore(options);

        var find = await Assert.ThrowsAsync<StorageUnavailableException>(() => store.FindAsync(new ProfileQuery("s", null, 0, 1, []), default));
        var probe = await Assert.ThrowsAsync<StorageUnavailableException>(() => store.ProbeAsync(default));
        Assert.Equal(("clickhouse", "clickhouse"), (find.Backend, probe.Backend));
    }

    [Fact]
    public async Task A_read_whose_connection_ends_before_its_answer_is_asked_again_and_a_second_cut_is_unavailable()
    {
        var options = ClickHouseServer.Instance.NewDatabase();
        await using var relay = TcpRelay.Start(TcpRelay.Mode.Forward, options.Url);
        await using var store = new ClickHouseProfileStore(options with { Url = relay.Url });
        var written = await store.WriteAsync(new NewProfile("api", ProfileType.Cpu, "pod", [], T0), TestData.Bytes("cpu_1.pb.gz"), default);

        relay.CutNext();
        var found = await store.FindAsync(new ProfileQuery("api", null, T0, T0, []), default);
        relay.CutNext(times: 2);
        var twice = await Assert.ThrowsAsync<StorageUnavailableException>(() => store.FindAsync(new ProfileQuery("api", null, T0, T0, []), default));

        Assert.Equal([written.Id], found.Select(m => m.Id));
        Assert.Equal("clickhouse", twice.Backend);
    }
}
