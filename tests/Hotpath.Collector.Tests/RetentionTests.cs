using System.Net;
using Hotpath.Collector.Storage;
using Hotpath.Pprof;
using Hotpath.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hotpath.Collector.Tests;

/// <summary>
/// Retention counts a profile's age from when it arrived, as profefe's TTL does: an import of last month's
/// profiles, or an agent's queue flushed after an outage, is acknowledged and kept for the retention.
/// </summary>
public sealed class RetentionTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "hotpath-retention-" + Guid.NewGuid().ToString("N"));

    private static readonly TimeSpan Retention = TimeSpan.FromDays(7);

    private string[] Settings => [$"--Storage:DataDirectory={_data}", $"--Storage:Retention={Retention}"];

    private static async Task RunRetentionAsync(CollectorInstance collector) =>
        await collector.Services.GetServices<IHostedService>().OfType<RetentionService>().Single()
            .RunOnceAsync(Retention, TimeSpan.FromDays(90), default);

    [Fact]
    public async Task A_profile_taken_before_the_retention_is_acknowledged_and_kept_for_the_retention_from_its_arrival()
    {
        var now = TestClock.UtcNow;
        var taken = now.AddDays(-30).AddTicks(-(now.UtcTicks % TimeSpan.TicksPerSecond));
        var body = ProfileBytes.WithTime("cpu_2.pb.gz", taken);
        var window = $"from={ProfileBytes.Format(taken.AddMinutes(-1))}&to={ProfileBytes.Format(taken.AddMinutes(1))}";
        string id;
        await using (var collector = await CollectorInstance.StartAsync(Settings))
        {
            var meta = await collector.PostOkAsync("late", "cpu", body);
            id = meta.GetProperty("id").GetString()!;
            Assert.Equal(ProfileBytes.Format(taken) + "Z", meta.GetProperty("created_at").GetString());
        }

        // A restart runs a retention pass at start; this one runs another where the test can wait for it.
        await using (var restarted = await CollectorInstance.StartAsync(Settings))
        {
            await RunRetentionAsync(restarted);
            Assert.Equal(body, await restarted.Http.GetByteArrayAsync("/api/0/profiles/" + id));
            Assert.Equal([id], (await restarted.FindAllAsync("late")).Select(m => m.GetProperty("id").GetString()));
            var merged = await restarted.GetProfileAsync($"/api/0/profiles/merge?service=late&type=cpu&{window}");
            Assert.Equal(TestData.Totals["cpu_2.pb.gz"], merged.Totals());
        }

        // The same store once the retention has passed since the profile arrived: now it goes.
        await using (var later = await CollectorInstance.StartAsync(new ShiftedClock(TestClock.Ahead + Retention + TimeSpan.FromDays(1)), Settings))
        {
            await RunRetentionAsync(later);
            using var response = await later.GetAsync("/api/0/profiles/" + id);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Empty(await later.FindAllAsync("late"));
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
            Directory.Delete(_data, recursive: true);
    }
}
