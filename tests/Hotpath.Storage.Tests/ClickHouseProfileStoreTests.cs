using System.Text;
using Hotpath.Pprof;
using Hotpath.Storage.ClickHouse;
using Hotpath.Testing;

namespace Hotpath.Storage.Tests;

/// <summary>The storage contract on a real ClickHouse server, each test in its own database.</summary>
public sealed class ClickHouseProfileStoreTests : ProfileStoreContract
{
    protected override Task<IStoreUnderTest> CreateAsync() => Task.FromResult<IStoreUnderTest>(new ClickHouseUnderTest(ClickHouseServer.Instance.NewDatabase()));

    private sealed class ClickHouseUnderTest(ClickHouseStoreOptions options) : IStoreUnderTest
    {
        private ClickHouseProfileStore _store = new(options);

        public IProfileWriter Writer => _store;
        public IProfileReader Reader => _store;
        public IRetention Retention => _store;

        public async Task ReopenAsync()
        {
            await _store.DisposeAsync();
            _store = new ClickHouseProfileStore(options);
        }

        public ValueTask DisposeAsync() => _store.DisposeAsync();
    }

    [Fact]
    public async Task The_stack_store_answers_a_fleet_question_in_one_sql_query()
    {
        var options = ClickHouseServer.Instance.NewDatabase();
        await using (var store = new ClickHouseProfileStore(options))
        {
            foreach (var file in TestData.CpuProfiles)
                await store.WriteAsync(new NewProfile("api", ProfileType.Cpu, "", [new ProfileLabel("v", "1")], T0), TestData.Bytes(file), default);
        }

        var leaf = await SqlAsync(options, $"SELECT frames[1] AS leaf, sum(values[2]) AS cpu FROM {options.Database}.stack_samples ANY INNER JOIN {options.Database}.stacks USING (hash) WHERE service = 'api' AND type = 1 GROUP BY leaf ORDER BY cpu DESC LIMIT 1");
        var total = await SqlAsync(options, $"SELECT sum(values[2]) FROM {options.Database}.stack_samples");

        Assert.Equal("crypto/sha256.block\t3220000000\n", leaf);
        Assert.Equal(TestData.Sum(TestData.CpuProfiles.Select(f => TestData.Totals[f]))[1].ToString(System.Globalization.CultureInfo.InvariantCulture), total.Trim());
    }

    [Fact]
    public async Task Each_stack_is_stored_once_and_profiles_of_one_minute_and_label_set_share_their_rows()
    {
        var options = ClickHouseServer.Instance.NewDatabase();
        var distinct = TestData.Decode("cpu_1.pb.gz").Sample.Count;
        await using (var store = new ClickHouseProfileStore(options))
        {
            // Concurrent writes of one minute and label set land in the same batches and are merged before the insert.
            await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
                store.WriteAsync(new NewProfile("api", ProfileType.Cpu, $"pod-{i}", [new ProfileLabel("v", "1")], T0 + i), TestData.Bytes("cpu_1.pb.gz"), default)));
        }

        var stacks = long.Parse(await SqlAsync(options, $"SELECT count() FROM (SELECT DISTINCT hash FROM {options.Database}.stacks)"), System.Globalization.CultureInfo.InvariantCulture);
        var stackRows = long.Parse(await SqlAsync(options, $"SELECT count() FROM {options.Database}.stacks"), System.Globalization.CultureInfo.InvariantCulture);
        var sampleRows = long.Parse(await SqlAsync(options, $"SELECT count() FROM {options.Database}.stack_samples"), System.Globalization.CultureInfo.InvariantCulture);
        var total = long.Parse(await SqlAsync(options, $"SELECT sum(values[2]) FROM {options.Database}.stack_samples"), System.Globalization.CultureInfo.InvariantCulture);

        Assert.InRange(stacks, 1, distinct);
        Assert.Equal(stacks, stackRows); // sent once by this collector, not once per profile
        Assert.InRange(sampleRows, stacks, 20 * stacks - 1);
        Assert.Equal(20 * TestData.Totals["cpu_1.pb.gz"][1], total);
    }

    [Fact]
    public async Task Merges_of_whole_minutes_read_the_pieces_and_equal_gos_merge_of_the_raw_profiles()
    {
        var options = ClickHouseServer.Instance.NewDatabase();
        await using var store = new ClickHouseProfileStore(options);
        var start = T0 - T0 % 60_000_000_000;
        string[] files = ["cpu_1.pb.gz", "cpu_2.pb.gz", "cpu_3.pb.gz"];
        for (var round = 0; round < 3; round++)
        {
            // Twenty of one minute at once: they share batches, and so pieces.
            await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
                store.WriteAsync(new NewProfile("api", ProfileType.Cpu, $"pod-{i}", [new ProfileLabel("host", $"h{i % 2}")], start + round * 60_000_000_000L + i * 2_000_000_000L),
                    TestData.Bytes(files[i % files.Length]), default)));
        }

        var all = new ProfileQuery("api", ProfileType.Cpu, start - 60_000_000_000, start + 600_000_000_000, []);
        var source = await store.OpenMergeAsync(all, 10_000, default);
        Assert.Equal(60, source.Profiles);
        Assert.InRange(source.RawProfiles, 0, 59);
        Assert.Equal(await RawMergeAsync(store, all), await MergeAsync(source.Bodies));

        // A label filter and an edge in the middle of minute 1: that part is read raw, minute 2 from its pieces.
        var part = new ProfileQuery("api", ProfileType.Cpu, start + 95_000_000_000, start + 190_000_000_000, [new ProfileLabel("host", "h1")]);
        var partSource = await store.OpenMergeAsync(part, 10_000, default);
        Assert.InRange(partSource.RawProfiles, 1, partSource.Profiles - 1);
        Assert.Equal(await RawMergeAsync(store, part), await MergeAsync(partSource.Bodies));

        // Pieces that hold more than the profiles table has (their batches failed after them): those minutes are read raw.
        await SqlAsync(options, $"INSERT INTO {options.Database}.pieces SELECT service, type, minute, label_keys, label_values, profiles, body FROM {options.Database}.pieces", format: "");
        var afterFailure = await store.OpenMergeAsync(all, 10_000, default);
        Assert.Equal(60, afterFailure.RawProfiles);
        Assert.Equal(await RawMergeAsync(store, all), await MergeAsync(afterFailure.Bodies));
    }

    [Fact]
    public async Task Whole_hours_and_ten_minutes_are_merged_from_bucket_pieces_while_they_hold_exactly_the_profiles_stored()
    {
        await using var store = new ClickHouseProfileStore(ClickHouseServer.Instance.NewDatabase());
        const long Hour = 3_600_000_000_000;
        string[] files = ["cpu_1.pb.gz", "cpu_2.pb.gz", "cpu_3.pb.gz"];
        for (var i = 0; i < 36; i++)
        {
            // Three hours, two hosts, a profile every 10 minutes each: one alone in its batch, so no minute pieces.
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

    private static async Task<string> SqlAsync(ClickHouseStoreOptions options, string sql, string format = " FORMAT TabSeparated")
    {
        using var http = new HttpClient();
        using var reply = await http.PostAsync(options.Url, new StringContent(sql + format, Encoding.UTF8));
        var text = await reply.Content.ReadAsStringAsync();
        Assert.True(reply.IsSuccessStatusCode, text);
        return text;
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
}
