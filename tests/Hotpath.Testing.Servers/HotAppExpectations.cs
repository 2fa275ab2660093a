using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Proto;
using Xunit;

namespace Hotpath.Testing;

/// <summary>
/// What profiles of examples/HotApp must show, as it was built: Work.Checksum 60% of its busy loop's CPU,
/// Work.Allocate 80% of the bytes it allocates (byte[]), its workers waiting on the lock in Work.Reserve, and
/// its four requests blocked on .Result in Requests.FetchBlocking.
/// </summary>
public static partial class HotAppExpectations
{
    /// <summary>HotApp's Requests.Concurrency: the requests it keeps blocked.</summary>
    public const int RequestsInFlight = 4;

    /// <summary>The threads HotApp measured blocked in Requests.FetchBlocking on average, from its last line.</summary>
    public static double MeasuredBlockedThreads(string lastLine) =>
        double.Parse(BlockedThreads().Match(lastLine).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

    [System.Text.RegularExpressions.GeneratedRegex(@"blocked ([0-9.]+) threads on average in Requests\.FetchBlocking")]
    private static partial System.Text.RegularExpressions.Regex BlockedThreads();

    /// <summary>
    /// The wall profile holds FetchBlocking's threads within ten points of the four requests' time, waiting, in the
    /// requests' span when in process, on threads named as the thread pool's workers; the block profile its delay
    /// within 15% of what HotApp measured, on those threads too.
    /// </summary>
    public static async Task AssertBlockedRequestsAsync(CollectorInstance collector, string selection, double measured, bool spans)
    {
        var wall = await collector.GetProfileAsync($"/api/0/profiles/merge?{selection}&type=wall&{AllTime}");
        var fetch = TopTable.Build(wall, 1).Rows.Single(r => r.Function == "HotApp.Requests.FetchBlocking");
        var threads = (double)fetch.Cumulative / wall.DurationNanos;
        Assert.True(Math.Abs(threads - measured) <= 0.1 * RequestsInFlight, $"the wall profile has {threads:0.00} threads in FetchBlocking, HotApp measured {measured:0.00}");
        var inSpan = FetchBlockingWhere(wall, "span_name", "GET /orders/{id}");
        if (spans)
            Assert.True(inSpan >= 0.9 * fetch.Cumulative, $"{inSpan} of FetchBlocking's {fetch.Cumulative} ns of wall time in its request's span");
        else
            Assert.Equal(0, inSpan);
        // The requests block on the thread pool's workers, which the runtime names (Linux gives each sample its thread's name).
        if (OperatingSystem.IsLinux())
        {
            var onWorkers = FetchBlockingWhere(wall, "thread_name", ".NET TP Worker");
            Assert.True(onWorkers >= 0.9 * fetch.Cumulative, $"{onWorkers} of FetchBlocking's {fetch.Cumulative} ns of wall time on threads named .NET TP Worker");
        }

        var block = await collector.GetProfileAsync($"/api/0/profiles/merge?{selection}&type=block&{AllTime}");
        var blockedIn = TopTable.Build(block, 1).Rows.Single(r => r.Function == "HotApp.Requests.FetchBlocking").Cumulative;
        var blocked = (double)blockedIn / block.DurationNanos;
        Assert.True(Math.Abs(blocked - measured) <= 0.15 * measured, $"the block profile has {blocked:0.00} threads blocked in FetchBlocking, HotApp measured {measured:0.00}");
        if (OperatingSystem.IsLinux())
        {
            var blockedOnWorkers = FetchBlockingWhere(block, "thread_name", ".NET TP Worker");
            Assert.True(blockedOnWorkers >= 0.9 * blockedIn, $"{blockedOnWorkers} of FetchBlocking's {blockedIn} ns blocked on threads named .NET TP Worker");
        }
    }

    /// <summary>FetchBlocking's cumulative value (its second sample type) in the samples labelled <paramref name="key"/> = <paramref name="value"/>.</summary>
    private static long FetchBlockingWhere(Profile profile, string key, string value) =>
        TopTable.Build(new SampleSelection([KeyValuePair.Create(key, value)], null).Apply(profile), 1).Rows
            .SingleOrDefault(r => r.Function == "HotApp.Requests.FetchBlocking")?.Cumulative ?? 0;

    private const string AllTime = "from=2000-01-01T00:00:00&to=2100-01-01T00:00:00";

    /// <summary>Waits until the service has a cpu, a heap and a mutex profile (the agent uploads in the background).</summary>
    /// <param name="types">The types that must be there: the default agent's cpu, heap and mutex unless given.</param>
    public static async Task WaitForEveryTypeAsync(CollectorInstance collector, string service, TimeSpan timeout, params string[] types)
    {
        string[] expected = types.Length > 0 ? types : ["cpu", "heap", "mutex"];
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var stored = (await collector.FindAllAsync(service)).Select(p => p.GetProperty("type").GetString()).ToHashSet();
            if (stored.IsSupersetOf(expected))
                return;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"after {timeout.TotalSeconds} s the collector has only [{string.Join(", ", stored)}] for {service}");
            await Task.Delay(250);
        }
    }

    public static async Task AssertCpuAsync(CollectorInstance collector, string selection)
    {
        var (profile, top, summary) = await TopAsync(collector, $"{selection}&type=cpu", "cpu");
        Assert.True(top.Rows[0].Function == "HotApp.Work.Checksum", $"the hottest function should be HotApp.Work.Checksum: {summary}");
        var checksumShare = ChecksumShareOfBusyLoop(profile, TopTable.SampleTypeIndex(profile, "cpu"));
        Assert.True(Math.Abs(checksumShare - 60) <= 5, $"HotApp.Work.Checksum should have 60% ± 5 of the busy loop, has {checksumShare:0.0}%: {summary}");
        // The process's other threads (allocator, lock workers, runtime) take a few percent besides.
        var loop = top.Rows.Single(r => r.Function == "HotApp.BusyLoop.Run");
        Assert.True(Share(loop.Cumulative, top) > 80, $"the busy loop should be most of the process's CPU: {summary}");
        // HotApp's build puts its PDB beside it, so its methods come with their source file.
        var checksumFunction = profile.Function.First(f => profile.StringTable[(int)f.Name] == "HotApp.Work.Checksum");
        Assert.EndsWith(Path.Combine("examples", "HotApp", "Work.cs"), profile.StringTable[(int)checksumFunction.Filename]);
    }

    /// <summary>
    /// Work.Checksum's share, in percent, of the busy loop's two methods, Checksum and Parse with the number
    /// parsing it calls: HotApp is built to make it 60. Samples count by the methods in their stacks, not by
    /// BusyLoop.Run above them, because each sampler misplaces some of the loop's time: EventPipe charges the
    /// time a thread ran unsampleable to where it next stopped, often the loop's own Stopwatch calls (8% of a
    /// window once), and a frame-pointer walk from a leaf sampled before its prologue skips the leaf's caller,
    /// Parse or the loop itself (in one CI run 6.6% of the samples of Checksum and of the parsing lacked the
    /// loop, which put Checksum at 65% of the loop while it had 60.6% of the two methods' samples).
    /// </summary>
    public static double ChecksumShareOfBusyLoop(Profile profile, int sampleType)
    {
        var functions = profile.Function.ToDictionary(f => f.Id, f => profile.StringTable[(int)f.Name]);
        var locations = profile.Location.ToDictionary(l => l.Id, l => l.Line.Select(line => functions[line.FunctionId]).ToArray());
        long checksum = 0, parse = 0;
        foreach (var sample in profile.Sample)
        {
            var frames = sample.LocationId.SelectMany(id => locations[id]).ToList();
            if (frames.Contains("HotApp.Work.Checksum"))
                checksum += sample.Value[sampleType];
            else if (frames.Exists(IsParsing))
                parse += sample.Value[sampleType];
        }

        Assert.True(checksum + parse > 0, "the profile has no samples of the busy loop's methods");
        return 100.0 * checksum / (checksum + parse);

        static bool IsParsing(string function) => function == "HotApp.Work.Parse"
            || function.StartsWith("System.Number.", StringComparison.Ordinal)
            || function.StartsWith("System.Globalization.NumberFormatInfo.", StringComparison.Ordinal)
            || function.StartsWith("System.Int64.", StringComparison.Ordinal);
    }

    public static async Task AssertHeapAsync(CollectorInstance collector, string selection)
    {
        var (_, top, summary) = await TopAsync(collector, $"{selection}&type=heap", "alloc_space");
        var allocate = top.Rows[0];
        Assert.True(allocate.Function == "HotApp.Work.Allocate", $"the top allocating frame should be HotApp.Work.Allocate: {summary}");
        Assert.True(Math.Abs(Share(allocate.Flat, top) - 80) <= 10, $"HotApp.Work.Allocate should allocate about 80% of the bytes: {summary}");
        Assert.Equal("bytes", top.Unit);
    }

    public static async Task AssertAllocatedTypesAsync(CollectorInstance collector, string selection)
    {
        var profile = await collector.GetProfileAsync($"/api/0/profiles/merge?{selection}&type=heap&{AllTime}");
        var leafTypes = profile.Sample
            .Where(s => Function(profile, s.LocationId[0]) == "HotApp.Work.Allocate")
            .SelectMany(s => s.Label.Where(l => profile.StringTable[(int)l.Key] == "type").Select(l => profile.StringTable[(int)l.Str]))
            .ToHashSet();
        Assert.Equal(["System.Byte[]"], leafTypes);
    }

    public static async Task AssertMutexAsync(CollectorInstance collector, string selection)
    {
        var (_, top, summary) = await TopAsync(collector, $"{selection}&type=mutex", "delay");
        var reserve = top.Rows.SingleOrDefault(r => r.Function == "HotApp.Work.Reserve");
        Assert.True(reserve is not null && Share(reserve.Cumulative, top) >= 90, $"the waits should be at the lock in HotApp.Work.Reserve: {summary}");
        // The workers hold the lock 5 ms at a time, so each wait is milliseconds long.
        Assert.Equal("nanoseconds", top.Unit);
        Assert.True(top.Total > 100_000_000, summary);
    }

    private static async Task<(Profile Profile, TopTable Top, string Summary)> TopAsync(CollectorInstance collector, string selection, string sampleType)
    {
        var profile = await collector.GetProfileAsync($"/api/0/profiles/merge?{selection}&{AllTime}");
        var top = TopTable.Build(profile, TopTable.SampleTypeIndex(profile, sampleType));
        var summary = $"total {top.Total} {top.Unit}; " + string.Join(", ", top.Rows.Take(6).Select(r => $"{r.Function} {Share(r.Flat, top):0.0}% flat {Share(r.Cumulative, top):0.0}% cum"));
        return (profile, top, summary);
    }

    private static double Share(long value, TopTable top) => 100.0 * value / top.Total;

    private static string Function(Profile profile, ulong locationId)
    {
        var location = profile.Location.Single(l => l.Id == locationId);
        var function = profile.Function.Single(f => f.Id == location.Line[0].FunctionId);
        return profile.StringTable[(int)function.Name];
    }
}
