using Hotpath.Pprof;
using Hotpath.Storage.ClickHouse;
using Hotpath.Storage.Journal;
using Hotpath.Testing;

namespace Hotpath.Storage.Tests;

/// <summary>
/// The storage contract on ClickHouse behind the write journal (a real server, journal files in a temporary
/// folder): what is acknowledged but not shipped yet reads the same as what ClickHouse has.
/// </summary>
public sealed class JournaledProfileStoreTests : ProfileStoreContract, IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "hotpath-journal-" + Guid.NewGuid().ToString("N"));

    protected override Task<IStoreUnderTest> CreateAsync()
    {
        var (options, journal) = (ClickHouseServer.Instance.NewDatabase(), Path.Combine(_folder, Guid.NewGuid().ToString("N")));
        return Task.FromResult<IStoreUnderTest>(new OpenedStore(() => Open(options, journal)));
    }

    public void Dispose()
    {
        if (Directory.Exists(_folder))
            Directory.Delete(_folder, recursive: true);
    }

    /// <summary>A journaled store that ships as the collector's hosted service makes it, until it is disposed.</summary>
    private static JournaledProfileStore Open(ClickHouseStoreOptions options, string journal, long maxBytes = 1L << 30)
    {
        var store = new JournaledProfileStore(new ClickHouseProfileStore(options), journal, maxBytes);
        _ = store.ShipAsync(CancellationToken.None);
        return store;
    }

    private static NewProfile Cpu(int i) => new("api", ProfileType.Cpu, $"pod-{i}", [new ProfileLabel("host", $"h{i % 2}")], T0 + i * 1_000_000_000L);

    [Fact]
    public async Task A_journal_ships_only_while_its_host_runs_the_shipping_and_once_at_a_time()
    {
        var options = ClickHouseServer.Instance.NewDatabase();
        await using var store = new JournaledProfileStore(new ClickHouseProfileStore(options), Path.Combine(_folder, "hosted"), 1L << 30);
        var id = (await store.WriteAsync(Cpu(0), TestData.Bytes("cpu_1.pb.gz"), default)).Id;
        Assert.Equal(1, store.PendingProfiles);

        using var stopping = new CancellationTokenSource();
        var shipping = store.ShipAsync(stopping.Token);
        Assert.Throws<InvalidOperationException>(() => { _ = store.ShipAsync(stopping.Token); });
        await Eventually.TrueAsync(() => store.PendingProfiles == 0, Deadline, "the journal was not shipped");
        await stopping.CancelAsync();
        await shipping.WaitAsync(Deadline);

        await using var clickHouse = new ClickHouseProfileStore(options);
        Assert.Equal([id], (await clickHouse.GetAsync([id], default)).Select(m => m.Id));
    }

    [Fact]
    public async Task Profiles_acknowledged_before_a_crash_reach_clickhouse_once_even_when_the_journal_is_replayed_twice()
    {
        var options = ClickHouseServer.Instance.NewDatabase();
        var journal = Path.Combine(_folder, "a");
        var ids = new List<string>();
        await using (var store = Open(options, journal))
        {
            for (var i = 0; i < 6; i++)
                ids.Add((await store.WriteAsync(Cpu(i), TestData.Bytes(TestData.CpuProfiles[i % TestData.CpuProfiles.Count]), default)).Id);
            // What a kill -9 leaves: the journal's files as they are now, whether or not a shipment landed.
            CopyFolder(journal, journal + "-copy");
        }

        await using (var replayed = Open(options, journal + "-copy"))
            await Eventually.TrueAsync(() => replayed.PendingProfiles == 0, Deadline, "the replayed journal was not shipped");

        await using var clickHouse = new ClickHouseProfileStore(options);
        var found = await clickHouse.FindAsync(new ProfileQuery("api", ProfileType.Cpu, T0, T0 + 60_000_000_000, []), default);
        Assert.Equal(ids, found.Select(m => m.Id));
        Assert.Empty(Directory.EnumerateFiles(journal, "*.journal"));
    }

    [Fact]
    public async Task Writes_acknowledged_while_clickhouse_stopped_answering_are_shipped_by_the_next_start()
    {
        var options = ClickHouseServer.Instance.NewDatabase();
        var journal = Path.Combine(_folder, "b");
        await using var relay = TcpRelay.Start(TcpRelay.Mode.Forward, options.Url);
        var viaRelay = options with { Url = relay.Url, Timeout = TimeSpan.FromSeconds(1) };
        var acknowledged = new List<string>();
        await using (var store = Open(viaRelay, journal))
        {
            acknowledged.Add((await store.WriteAsync(Cpu(0), TestData.Bytes("cpu_1.pb.gz"), default)).Id);
            relay.Switch(TcpRelay.Mode.Refuse);
            // Taken until a shipment fails, then refused with ClickHouse's 503.
            var refused = false;
            for (var i = 1; i < 10_000 && !refused; i++)
            {
                try
                {
                    acknowledged.Add((await store.WriteAsync(Cpu(i), TestData.Bytes("cpu_1.pb.gz"), default)).Id);
                }
                catch (StorageUnavailableException e)
                {
                    Assert.Equal("clickhouse", e.Backend);
                    refused = true;
                }
            }

            Assert.True(refused, "writes were still taken long after ClickHouse stopped answering");
        }

        await using (var restarted = Open(options, journal))
            await Eventually.TrueAsync(() => restarted.PendingProfiles == 0, Deadline, "the journal was not shipped after the restart");

        await using var clickHouse = new ClickHouseProfileStore(options);
        var found = await clickHouse.FindAsync(new ProfileQuery("api", ProfileType.Cpu, long.MinValue, long.MaxValue, []), default);
        Assert.Equal(acknowledged.Order(StringComparer.Ordinal), found.Select(m => m.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_shipment_cut_off_while_clickhouse_still_answers_refuses_no_write_and_is_shipped_again()
    {
        var options = ClickHouseServer.Instance.NewDatabase();
        await using var relay = TcpRelay.Start(TcpRelay.Mode.Forward, options.Url);
        await using var store = Open(options with { Url = relay.Url }, Path.Combine(_folder, "cut"));
        var acknowledged = new List<string> { (await store.WriteAsync(Cpu(0), TestData.Bytes("cpu_1.pb.gz"), default)).Id };
        await Eventually.TrueAsync(() => store.PendingProfiles == 0, Deadline, "the first profile was not shipped");

        relay.CutNext();
        // Spread over the failed shipment, the probe after it and the retry a second later.
        for (var i = 1; i <= 25; i++)
        {
            acknowledged.Add((await store.WriteAsync(Cpu(i), TestData.Bytes("cpu_1.pb.gz"), default)).Id);
            await Task.Delay(100);
        }

        await Eventually.TrueAsync(() => store.PendingProfiles == 0, Deadline, "the journal was not shipped after the cut");
        await using var clickHouse = new ClickHouseProfileStore(options);
        var found = await clickHouse.FindAsync(new ProfileQuery("api", ProfileType.Cpu, long.MinValue, long.MaxValue, []), default);
        Assert.Equal(acknowledged.Order(StringComparer.Ordinal), found.Select(m => m.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_journal_holding_its_limit_refuses_writes_with_a_503_that_names_the_setting()
    {
        var options = ClickHouseServer.Instance.NewDatabase();
        await using var relay = TcpRelay.Start(TcpRelay.Mode.Forward, options.Url);
        var body = TestData.Bytes("cpu_1.pb.gz");
        // ClickHouse answers the first probe, then hangs: shipments wait, and the journal fills.
        await using var store = Open(options with { Url = relay.Url, Timeout = TimeSpan.FromSeconds(3) }, Path.Combine(_folder, "c"), maxBytes: 3 * body.Length);
        await store.WriteAsync(Cpu(0), body, default);
        // Shipped before ClickHouse hangs, so that no shipment fails over a dropped connection (a 503 of its own).
        await Eventually.TrueAsync(() => store.PendingProfiles == 0, Deadline, "the first write was not shipped");
        relay.Switch(TcpRelay.Mode.Hang);

        var refusal = await Assert.ThrowsAsync<StorageUnavailableException>(async () =>
        {
            for (var i = 1; i < 10; i++)
                await store.WriteAsync(Cpu(i), body, default);
        });

        Assert.Contains("Storage:JournalMaxBytes", refusal.Message);
        relay.Switch(TcpRelay.Mode.Forward);
    }

    [Fact]
    public async Task A_record_a_crash_cut_short_is_dropped_and_the_records_before_it_are_kept()
    {
        var folder = Path.Combine(_folder, "d");
        var body = TestData.Bytes("heap_1.pb.gz");
        using (var journal = new WriteJournal(folder))
        {
            journal.Append([.. Enumerable.Range(0, 3).Select(i => (Meta(i, body.Length), (ReadOnlyMemory<byte>)body))]);
        }

        var segment = Assert.Single(Directory.EnumerateFiles(folder, "*.journal"));
        using (var file = File.OpenWrite(segment))
            file.SetLength(file.Length - 10);

        using (var journal = new WriteJournal(folder))
        {
            Assert.Equal(["p0", "p1"], journal.Recovered.Select(e => e.Meta.Id));
            Assert.Equal(body, journal.ReadBodies([journal.Recovered[1]]).Single());
            Assert.Equal(Meta(1, body.Length), journal.Recovered[1].Meta);
            journal.Append([(Meta(3, body.Length), body)]);
            Assert.Throws<IOException>(() => new WriteJournal(folder)); // one process at a time
        }

        using var reopened = new WriteJournal(folder);
        Assert.Equal(["p0", "p1", "p3"], reopened.Recovered.Select(e => e.Meta.Id));
    }

    private static ProfileMeta Meta(int i, int size) =>
        new($"p{i}", "api", ProfileType.Heap, "pod", [new ProfileLabel("k", "v"), new ProfileLabel("k", "w")], T0 + i, size, 42 + i);

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*.journal"))
        {
            using var source = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var target = File.Create(Path.Combine(to, Path.GetFileName(file)));
            source.CopyTo(target);
        }
    }
}
