using BenchmarkDotNet.Attributes;
using Hotpath.Pprof;
using Hotpath.Storage;
using Hotpath.Storage.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hotpath.Benchmarks;

/// <summary>
/// Find on the embedded store itself (no HTTP) over 100,000 profiles spread over 24 h: 4 services x 2 types,
/// labels region (2 values), version (5) and instance (50), as bench/load.sh seeds them through the API.
/// </summary>
[MemoryDiagnoser]
public class StoreBenchmarks
{
    private const int Count = 100_000;
    private const long Day = 86_400L * 1_000_000_000;
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "hotpath-bench-" + Guid.NewGuid().ToString("N"));
    private SqliteProfileStore _store = null!;
    private long _start;
    private int _query;

    [GlobalSetup]
    public async Task Setup()
    {
        _store = SqliteProfileStore.Open(new SqliteStoreOptions { DataDirectory = _directory }, NullLogger<SqliteProfileStore>.Instance);
        _start = (DateTimeOffset.UtcNow.AddDays(-1).UtcTicks - DateTime.UnixEpoch.Ticks) * 100;
        var body = new byte[14_384];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 64).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < Count)
            {
                var labels = new[]
                {
                    new ProfileLabel("instance", "host-" + i % 50),
                    new ProfileLabel("region", i % 3 == 0 ? "eu" : "us"),
                    new ProfileLabel("version", "1." + i % 5),
                };
                await _store.WriteAsync(new NewProfile("svc-" + i % 4, i / 4 % 2 == 0 ? ProfileType.Cpu : ProfileType.Heap, "", labels,
                    _start + Day / Count * i), body, default);
            }
        }));
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _store.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>One service, type cpu, a 1 h window somewhere in the day, one label: ~100 matches.</summary>
    [Benchmark]
    public async Task<int> FindHourWithLabel()
    {
        var n = _query++;
        var from = _start + (n % 22 + 1) * (Day / 24);
        var found = await _store.FindAsync(new ProfileQuery("svc-" + n % 4, ProfileType.Cpu, from, from + Day / 24,
            [new ProfileLabel("version", "1." + n % 5)]), default);
        return found.Count;
    }

    /// <summary>The whole day, one label, the newest 100.</summary>
    [Benchmark]
    public async Task<int> FindDayWithLabelAndLimit()
    {
        var n = _query++;
        var found = await _store.FindAsync(new ProfileQuery("svc-" + n % 4, ProfileType.Cpu, _start, _start + Day,
            [new ProfileLabel("region", "eu")], Limit: 100), default);
        return found.Count;
    }
}
