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
        public SqliteUnderTest()
        {
            Options = new SqliteStoreOptions { DataDirectory = Path.Combine(Path.GetTempPath(), "hotpath-store-" + Guid.NewGuid().ToString("N")) };
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

        public async ValueTask DisposeAsync()
        {
            await Store.DisposeAsync();
            Directory.Delete(Options.DataDirectory, recursive: true);
        }
    }

    private static SqliteProfileStore Open(SqliteStoreOptions options) => new(options, NullLogger<SqliteProfileStore>.Instance);

    [Fact]
    public async Task The_database_is_in_wal_mode_so_reads_never_wait_for_writes()
    {
        await using var store = new SqliteUnderTest();
        await using var connection = new SqliteConnection($"Data Source={store.Options.DatabasePath}");
        connection.Open();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";

        Assert.Equal("wal", (string?)command.ExecuteScalar());
    }

    [Fact]
    public async Task Space_freed_by_retention_is_reused_by_later_writes()
    {
        await using var store = new SqliteUnderTest();
        var body = TestData.Bytes("cpu_2.pb.gz");
        for (var i = 0; i < 150; i++)
            await store.Store.WriteAsync(Profile("s", ProfileType.Cpu, T0 + i), body, default);
        await store.ReopenAsync(); // checkpoints the WAL into the database file
        var full = new FileInfo(store.Options.DatabasePath).Length;

        Assert.Equal(150, await store.Store.DeleteOlderThanAsync(T0 + 1000, default));
        for (var i = 0; i < 150; i++)
            await store.Store.WriteAsync(Profile("s", ProfileType.Cpu, T0 + 2000 + i), body, default);
        await store.ReopenAsync();

        // Without reuse the file would have doubled.
        Assert.InRange(new FileInfo(store.Options.DatabasePath).Length, full * 9 / 10, full * 11 / 10);
    }

    [Fact]
    public async Task Labels_with_commas_equals_quotes_and_unicode_round_trip()
    {
        await using var store = new SqliteUnderTest();
        var meta = await store.Store.WriteAsync(Profile("s", ProfileType.Cpu, T0, ("path", "/a,b=c \"d\""), ("city", "zürich"), ("empty", "")), [1], default);

        var found = Assert.Single(await store.Store.FindAsync(new ProfileQuery("s", null, T0, T0, [new ProfileLabel("path", "/a,b=c \"d\"")]), default));

        Assert.Equal(meta.Labels, found.Labels);
    }

    [Fact]
    public async Task Writes_after_dispose_fail_as_unavailable_rather_than_hang()
    {
        var store = new SqliteUnderTest();
        await store.DisposeAsync();

        await Assert.ThrowsAsync<StorageUnavailableException>(() => store.Store.WriteAsync(Profile("s", ProfileType.Cpu, T0), [1], default));
    }
}
