using Hotpath.Pprof;
using System.Text;
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
    public async Task Samples_land_one_row_each_so_a_fleet_question_is_one_sql_query()
    {
        var options = ClickHouseServer.Instance.NewDatabase();
        await using (var store = new ClickHouseProfileStore(options))
        {
            foreach (var file in TestData.CpuProfiles)
                await store.WriteAsync(new NewProfile("api", ProfileType.Cpu, "", [new ProfileLabel("v", "1")], T0), TestData.Bytes(file), default);
        }

        using var http = new HttpClient();
        var sql = $"SELECT stack[1] AS leaf, sum(values[2]) AS cpu FROM {options.Database}.samples WHERE service = 'api' AND type = 1 GROUP BY leaf ORDER BY cpu DESC LIMIT 1 FORMAT TabSeparated";
        var reply = await (await http.PostAsync(options.Url, new StringContent(sql, Encoding.UTF8))).Content.ReadAsStringAsync();
        var total = await (await http.PostAsync(options.Url, new StringContent($"SELECT sum(values[2]) FROM {options.Database}.samples FORMAT TabSeparated"))).Content.ReadAsStringAsync();

        Assert.Equal("crypto/sha256.block\t3220000000\n", reply);
        Assert.Equal(TestData.Sum(TestData.CpuProfiles.Select(f => TestData.Totals[f]))[1].ToString(System.Globalization.CultureInfo.InvariantCulture), total.Trim());
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
    public async Task An_unreachable_server_makes_a_store_whose_every_call_is_unavailable()
    {
        var options = ClickHouseServer.Instance.NewDatabase() with { Url = $"http://127.0.0.1:{CollectorProcess.FreePort()}" };

        await using var store = new ClickHouseProfileStore(options);

        var find = await Assert.ThrowsAsync<StorageUnavailableException>(() => store.FindAsync(new ProfileQuery("s", null, 0, 1, []), default));
        var probe = await Assert.ThrowsAsync<StorageUnavailableException>(() => store.ProbeAsync(default));
        Assert.Equal(("clickhouse", "clickhouse"), (find.Backend, probe.Backend));
    }
}
