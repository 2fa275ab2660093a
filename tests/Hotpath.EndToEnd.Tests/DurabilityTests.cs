using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Hotpath.Pprof;
using Hotpath.Testing;

namespace Hotpath.EndToEnd.Tests;

/// <summary>An acknowledged profile is never lost: not to SIGKILL, not to a graceful shutdown mid-stream.</summary>
public sealed class DurabilityTests : IDisposable
{
    private const int Clients = 8;
    private readonly string _data = Path.Combine(Path.GetTempPath(), "hotpath-durability-" + Guid.NewGuid().ToString("N"));
    private readonly byte[][] _bodies = [.. TestData.CpuProfiles.Select(TestData.Bytes), TestData.Bytes("heap_1.pb.gz"), TestData.Bytes("not_gzip.pb")];

    /// <summary>The embedded store, and ClickHouse behind the collector's write journal.</summary>
    public static TheoryData<string> Engines => ["sqlite", "clickhouse"];

    private string[] _settings = [];

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task Every_profile_acknowledged_before_a_sigkill_reads_back_byte_for_byte_after_restart(string engine)
    {
        if (engine == "clickhouse")
        {
            var ch = ClickHouseServer.Instance.NewDatabase();
            _settings = ["--Storage:Type=clickhouse", $"--Storage:ClickHouse:Url={ch.Url}", $"--Storage:ClickHouse:Database={ch.Database}"];
        }

        var acknowledged = new ConcurrentBag<(string Id, int Body)>();
        using (var collector = await CollectorProcess.StartAsync(_data, null, _settings))
        {
            using var stop = new CancellationTokenSource();
            var clients = Enumerable.Range(0, Clients).Select(c => PostUntilStoppedAsync(collector.BaseAddress, c, acknowledged, stop.Token)).ToArray();

            // Kill once a good number is acknowledged, while every client still has requests in flight.
            await Eventually.TrueAsync(() => acknowledged.Count >= 300, TimeSpan.FromSeconds(60), $"only {acknowledged.Count} profiles were acknowledged");
            collector.Kill();
            await stop.CancelAsync();
            await Task.WhenAll(clients);
        }

        await AssertAllReadableAsync(acknowledged);
    }

    [Fact]
    public async Task A_graceful_shutdown_mid_stream_finishes_in_flight_writes_and_exits_cleanly()
    {
        var acknowledged = new ConcurrentBag<(string Id, int Body)>();
        using (var collector = await CollectorProcess.StartAsync(_data))
        {
            using var stop = new CancellationTokenSource();
            var clients = Enumerable.Range(0, Clients).Select(c => PostUntilStoppedAsync(collector.BaseAddress, c, acknowledged, stop.Token)).ToArray();
            await Eventually.TrueAsync(() => acknowledged.Count >= 100, TimeSpan.FromSeconds(60), $"only {acknowledged.Count} profiles were acknowledged");

            await collector.TerminateAsync(TimeSpan.FromSeconds(30));
            await stop.CancelAsync();
            await Task.WhenAll(clients);
            Assert.Equal(0, collector.ExitCode);
        }

        await AssertAllReadableAsync(acknowledged);
    }

    private async Task PostUntilStoppedAsync(Uri baseAddress, int client, ConcurrentBag<(string, int)> acknowledged, CancellationToken stop)
    {
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            var body = (client + n) % _bodies.Length;
            var type = body == 3 ? "heap" : "cpu";
            try
            {
                using var response = await http.PostAsync($"/api/0/profiles?service=durable&type={type}&labels=client%3D{client},n%3D{n}",
                    new ByteArrayContent(_bodies[body]), stop);
                if (response.StatusCode != HttpStatusCode.OK)
                    continue;
                using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(stop));
                acknowledged.Add((json.RootElement.GetProperty("body").GetProperty("id").GetString()!, body));
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
            {
                // The collector is gone or going: only acknowledged profiles count.
                if (!stop.IsCancellationRequested)
                    await Task.Delay(10, CancellationToken.None);
            }
        }
    }

    private async Task AssertAllReadableAsync(ConcurrentBag<(string Id, int Body)> acknowledged)
    {
        Assert.NotEmpty(acknowledged);
        using var restarted = await CollectorProcess.StartAsync(_data, null, _settings);
        using var http = new HttpClient { BaseAddress = restarted.BaseAddress };
        var lost = new List<string>();
        foreach (var (id, body) in acknowledged)
        {
            using var response = await http.GetAsync("/api/0/profiles/" + id);
            if (response.StatusCode != HttpStatusCode.OK || !(await response.Content.ReadAsByteArrayAsync()).AsSpan().SequenceEqual(_bodies[body]))
                lost.Add(id);
        }

        Assert.True(lost.Count == 0, $"{lost.Count} of {acknowledged.Count} acknowledged profiles lost or changed: {string.Join(", ", lost.Take(10))}");

        // Once the restarted collector has built its pre-merged pieces (and shipped its journal to ClickHouse), a
        // merge from them equals the merge of the raw profiles stored (the acknowledged ones and any committed
        // while their answer was lost in the kill).
        var settled = _settings.Length == 0 ? "hotpath_rollup_pending_buckets 0\n" : "hotpath_journal_pending_profiles 0\n";
        await Eventually.TrueAsync(async () => (await http.GetStringAsync("/metrics")).Contains(settled, StringComparison.Ordinal),
            TimeSpan.FromSeconds(60), $"the restarted collector did not settle ({settled.Trim()})");
        var decoder = new ProfileDecoder();
        const string Everything = "/api/0/profiles/merge?service=durable&type=cpu&from=1970-01-01T00:00:00&to=2200-01-01T00:00:00";
        var fromPieces = decoder.Decode(await http.GetByteArrayAsync(Everything));
        var fromRaw = decoder.Decode(await http.GetByteArrayAsync(Everything + "&limit=100000"));
        Assert.Equal(CanonicalProfile.Of(fromRaw), CanonicalProfile.Of(fromPieces));
        var acknowledgedCpu = TestData.Sum(acknowledged.Where(a => a.Body != 3).Select(a => decoder.Decode(_bodies[a.Body]).Totals()));
        Assert.True(fromPieces.Totals()[0] >= acknowledgedCpu[0], "the merge holds less than the acknowledged profiles");
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
            Directory.Delete(_data, recursive: true);
    }
}
