using System.Text;
using Hotpath.Pprof;
using Hotpath.Storage.ClickHouse;
using Hotpath.Storage.S3;
using Hotpath.Testing;

namespace Hotpath.Storage.Tests;

/// <summary>
/// The storage contract on ClickHouse with its bodies in S3 (<c>Storage:Type=s3,clickhouse</c>): a real
/// ClickHouse holds metadata, index and pieces, a real s3rver the bodies, a batch's bodies in one object.
/// </summary>
public sealed class ClickHouseWithS3BodiesTests : ProfileStoreContract
{
    protected override Task<IStoreUnderTest> CreateAsync()
    {
        var (clickHouse, s3) = (ClickHouseServer.Instance.NewDatabase(), S3Server.Instance.NewBucket());
        return Task.FromResult<IStoreUnderTest>(new OpenedStore(() => Open(clickHouse, s3), (store, now) => ((ClickHouseProfileStore)store).BuildBucketsAsync(now, default)));
    }

    private static ClickHouseProfileStore Open(ClickHouseStoreOptions clickHouse, S3StoreOptions s3) => new(clickHouse, null, new S3ObjectStore(s3));

    [Fact]
    public async Task Bodies_live_in_s3_many_to_an_object_and_retention_deletes_an_object_once_no_profile_is_in_it()
    {
        var clickHouse = ClickHouseServer.Instance.NewDatabase();
        var s3 = S3Server.Instance.NewBucket();
        await using var store = Open(clickHouse, s3);
        using var objects = new S3ObjectStore(s3);
        var files = Enumerable.Range(0, 20).Select(i => TestData.CpuProfiles[i % TestData.CpuProfiles.Count]).ToList();
        // Twenty at once share batches, so objects; then a lone old one in a batch of its own.
        var batch = await Task.WhenAll(files.Select((f, i) => store.WriteAsync(new NewProfile("api", ProfileType.Cpu, "", [], T0 + i), TestData.Bytes(f), default)));
        var old = await store.WriteAsync(Written(new NewProfile("api", ProfileType.Cpu, "", [], T0 - 86_400_000_000_000L)), TestData.Bytes("cpu_1.pb.gz"), default);

        var inRows = (await SqlAsync(clickHouse, $"SELECT sum(length(body)), uniqExact(body_object) FROM {clickHouse.Database}.profiles")).Trim().Split('\t');
        var oldObject = (await SqlAsync(clickHouse, $"SELECT body_object FROM {clickHouse.Database}.profiles WHERE id = '{old.Id}'")).Trim();
        Assert.Equal("0", inRows[0]); // no body in ClickHouse
        Assert.InRange(int.Parse(inRows[1], System.Globalization.CultureInfo.InvariantCulture), 2, 20);
        Assert.Equal(files.Select(TestData.Bytes), await store.OpenAsync([.. batch.Select(m => m.Id)], default).ToListAsync());

        Assert.Equal(1, await store.DeleteOlderThanAsync(T0, T0, default)); // ClickHouse drops whole days: the one before T0

        Assert.Null(await objects.ReadAsync(oldObject, 0, 1, default));
        Assert.Equal(files.Select(TestData.Bytes), await store.OpenAsync([.. batch.Select(m => m.Id)], default).ToListAsync());
    }

    [Fact]
    public async Task A_write_whose_bodies_s3_did_not_take_is_unavailable_and_leaves_nothing_findable()
    {
        var clickHouse = ClickHouseServer.Instance.NewDatabase();
        var s3 = S3Server.Instance.NewBucket() with { ServiceUrl = $"http://127.0.0.1:{CollectorProcess.FreePort()}", CreateBucket = false, Timeout = TimeSpan.FromSeconds(2) };
        await using var store = Open(clickHouse, s3);

        var refused = await Assert.ThrowsAsync<StorageUnavailableException>(() =>
            store.WriteAsync(new NewProfile("api", ProfileType.Cpu, "", [], T0), TestData.Bytes("cpu_1.pb.gz"), default));

        Assert.Equal("s3", refused.Backend);
        Assert.Empty(await store.FindAsync(new ProfileQuery("api", null, long.MinValue, long.MaxValue, []), default));
    }

    private static async Task<string> SqlAsync(ClickHouseStoreOptions options, string sql)
    {
        using var http = new HttpClient();
        using var reply = await http.PostAsync(options.Url, new StringContent(sql + " FORMAT TabSeparated", Encoding.UTF8));
        var text = await reply.Content.ReadAsStringAsync();
        Assert.True(reply.IsSuccessStatusCode, text);
        return text;
    }
}
