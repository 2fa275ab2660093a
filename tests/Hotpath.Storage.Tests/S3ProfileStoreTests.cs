using Hotpath.Pprof;
using Hotpath.Storage.S3;
using Hotpath.Testing;

namespace Hotpath.Storage.Tests;

/// <summary>The storage contract on a real S3-compatible server (s3rver), each test in its own bucket.</summary>
public sealed class S3ProfileStoreTests : ProfileStoreContract
{
    protected override Task<IStoreUnderTest> CreateAsync()
    {
        var options = S3Server.Instance.NewBucket();
        return Task.FromResult<IStoreUnderTest>(new OpenedStore(() => new S3ProfileStore(options)));
    }

    [Fact]
    public async Task Service_names_never_leave_the_prefix()
    {
        var options = S3Server.Instance.NewBucket("tenant-a/");
        using var store = new S3ProfileStore(options);
        using var neighbour = new S3ProfileStore(options with { Prefix = "tenant-b/" });

        var meta = await store.WriteAsync(new NewProfile("../../tenant-b/index/x", ProfileType.Cpu, "", [new ProfileLabel("k", "../v/")], 1), new byte[] { 1, 2 }, default);

        Assert.Equal(["../../tenant-b/index/x"], await store.ListServicesAsync(default));
        Assert.Empty(await neighbour.ListServicesAsync(default));
        Assert.Equal(new byte[] { 1, 2 }, Assert.Single(await store.OpenAsync([meta.Id], default).ToListAsync()));
    }

    [Fact]
    public async Task Labels_too_long_for_a_key_are_kept_in_the_index_object()
    {
        using var store = new S3ProfileStore(S3Server.Instance.NewBucket());
        var value = new string('x', 1500);

        await store.WriteAsync(new NewProfile("s", ProfileType.Cpu, "", [new ProfileLabel("big", value)], 5), new byte[] { 1 }, default);

        var found = Assert.Single(await store.FindAsync(new ProfileQuery("s", null, 0, 10, [new ProfileLabel("big", value)]), default));
        Assert.Equal(value, found.Labels[0].Value);
    }

    [Fact]
    public async Task Metadata_longer_than_a_file_name_is_split_across_key_segments()
    {
        using var store = new S3ProfileStore(S3Server.Instance.NewBucket());
        ProfileLabel[] labels = [new("instance", "host-6"), new("region", "eu"), new("version", new string('1', 180))];

        await store.WriteAsync(new NewProfile("svc", ProfileType.Heap, "", labels, 7), new byte[] { 1 }, default);

        Assert.Equal(labels, Assert.Single(await store.FindAsync(new ProfileQuery("svc", ProfileType.Heap, 0, 10, [labels[2]]), default)).Labels);
    }

    [Fact]
    public async Task An_unreachable_server_is_unavailable_not_an_error()
    {
        var options = S3Server.Instance.NewBucket() with { ServiceUrl = $"http://127.0.0.1:{CollectorProcess.FreePort()}", CreateBucket = false };
        using var store = new S3ProfileStore(options);

        var e = await Assert.ThrowsAsync<StorageUnavailableException>(() => store.WriteAsync(new NewProfile("s", ProfileType.Cpu, "", [], 1), new byte[] { 1 }, default));

        Assert.Equal("s3", e.Backend);
        Assert.DoesNotContain("S3RVER", e.Message);
    }
}
