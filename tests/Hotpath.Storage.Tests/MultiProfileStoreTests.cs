using Hotpath.Pprof;
using Hotpath.Storage.ClickHouse;
using Hotpath.Storage.S3;
using Hotpath.Storage.Sqlite;
using Hotpath.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotpath.Storage.Tests;

/// <summary>The storage contract on S3 for the bytes plus ClickHouse and SQLite beside it, as one store.</summary>
public sealed class MultiProfileStoreTests : ProfileStoreContract
{
    protected override Task<IStoreUnderTest> CreateAsync() => Task.FromResult<IStoreUnderTest>(new MultiUnderTest());

    private sealed class MultiUnderTest : IStoreUnderTest
    {
        private readonly S3StoreOptions _s3 = S3Server.Instance.NewBucket();
        private readonly ClickHouseStoreOptions _clickHouse = ClickHouseServer.Instance.NewDatabase();
        private readonly SqliteStoreOptions _sqlite = new() { DataDirectory = Path.Combine(Path.GetTempPath(), "hotpath-multi-" + Guid.NewGuid().ToString("N")) };
        private List<IProfileStore> _engines = [];
        private MultiProfileStore _store = null!;

        public MultiUnderTest() => Open();

        public IProfileWriter Writer => _store;
        public IProfileReader Reader => _store;
        public IRetention Retention => _store;

        private void Open()
        {
            _engines = [new S3ProfileStore(_s3), new ClickHouseProfileStore(_clickHouse), SqliteProfileStore.Open(_sqlite, NullLogger<SqliteProfileStore>.Instance)];
            _store = new MultiProfileStore(_engines);
        }

        public async Task ReopenAsync()
        {
            await CloseAsync();
            Open();
        }

        private async Task CloseAsync()
        {
            foreach (var engine in _engines)
            {
                if (engine is IAsyncDisposable a)
                    await a.DisposeAsync();
                else
                    (engine as IDisposable)?.Dispose();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await CloseAsync();
            Directory.Delete(_sqlite.DataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task Reads_fall_back_to_the_next_engine_while_the_first_is_unavailable_and_writes_name_the_engines_that_took_them()
    {
        var sqlite = new SqliteStoreOptions { DataDirectory = Path.Combine(Path.GetTempPath(), "hotpath-multi-" + Guid.NewGuid().ToString("N")) };
        await using var local = SqliteProfileStore.Open(sqlite, NullLogger<SqliteProfileStore>.Instance);
        var meta = await local.WriteAsync(new NewProfile("s", ProfileType.Cpu, "", [], T0), new byte[] { 4, 2 }, default);
        using var down = new S3ProfileStore(S3Server.Instance.NewBucket() with { ServiceUrl = $"http://127.0.0.1:{CollectorProcess.FreePort()}", CreateBucket = false });

        var multi = new MultiProfileStore([down, local]);

        Assert.Equal([meta], await multi.FindAsync(new ProfileQuery("s", null, T0, T0, []), default));
        Assert.Equal(new byte[] { 4, 2 }, Assert.Single(await multi.OpenAsync([meta.Id], default).ToListAsync()));
        var written = await multi.WriteAsync(new NewProfile("s", ProfileType.Cpu, "", [], T0 + 1), new byte[] { 1 }, default);
        Assert.Equal(["sqlite"], written.StoredIn);
        Assert.Equal([written], await local.FindAsync(new ProfileQuery("s", null, T0 + 1, T0 + 1, []), default));
        await Assert.ThrowsAsync<StorageUnavailableException>(() => new MultiProfileStore([down, down]).WriteAsync(new NewProfile("s", ProfileType.Cpu, "", [], T0), new byte[] { 1 }, default));
    }
}
