using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Hotpath.Pprof;

// Drives a running collector over HTTP and prints what it measured. Only ever targets the URL given
// (a collector on this machine); every loop is bounded by a count or a duration.
//   ingest URL FILE CONCURRENCY SECONDS [TYPE] profiles/s and latency percentiles of POSTs (TYPE=trace skips parsing)
//   seed   URL FILE COUNT                      COUNT profiles over the 24 h before now, 4 services x 2 types, labels
//   find   URL QUERIES                         p50/p99 of a 1 h window + label, and of 24 h + label + limit=100
//   merge  URL PID RUNS                        latency of a merge of 1,000 CPU profiles, and the collector's peak RSS growth
//   fleet  URL PID CORPUS DAYS [READ_URL READ_PID]  20 instances x 1 CPU profile a minute x DAYS days (cpu_1/2/3 restamped,
//                                              labels host, version), rollups awaited, then merges of 1 h, 24 h, 24 h + label, all
//                                              DAYS, and a find of 24 h + host (through READ_URL, a second collector, if given);
//                                              then a day of heap snapshots of 20 instances, averaged (aggregation=avg);
//                                              FLEET_INSTANCES=N (default 20): N instances, and past 20 version is an
//                                              instance's own (1.5 on every other one) rather than a rollout half-way
//   gauges URL CORPUS SERVICE                   the fleet's day of heap snapshots alone, into SERVICE (a new one each run), averaged
//   changes URL CORPUS SEEDS                   SEEDS planted regressions (1.4 against 1.5, 10 instances x 30 min each, +8 points in one
//                                              function): how often the change finder ranks it first, and regressions found in A/A halves
//   backfill URL PID CORPUS COUNT              COUNT CPU profiles at random times of the 7 days before today, 20 services x
//                                              30 label sets (an import): rate, server CPU-s per 1,000, and the builder's catch-up
var invariant = CultureInfo.InvariantCulture;
var command = args.Length > 0 ? args[0] : "";
using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { Timeout = TimeSpan.FromMinutes(5) };

switch (command)
{
    case "ingest":
        await Ingest(new Uri(args[1]), File.ReadAllBytes(args[2]), int.Parse(args[3], invariant), TimeSpan.FromSeconds(int.Parse(args[4], invariant)),
            args.Length > 5 ? args[5] : "cpu");
        break;
    case "seed":
        await Seed(new Uri(args[1]), args[2], int.Parse(args[3], invariant));
        break;
    case "find":
        await Find(new Uri(args[1]), int.Parse(args[2], invariant));
        break;
    case "merge":
        await Merge(new Uri(args[1]), int.Parse(args[2], invariant), int.Parse(args[3], invariant));
        break;
    case "backfill":
        await Backfill(new Uri(args[1]), int.Parse(args[2], invariant), args[3], int.Parse(args[4], invariant));
        break;
    case "changes":
        await Changes(new Uri(args[1]), args[2], int.Parse(args[3], invariant));
        break;
    case "gauges":
        await Gauges(new Uri(args[1]), new Uri(args[1]), args[2], new DateTimeOffset(DateTimeOffset.UtcNow.UtcDateTime.Date, TimeSpan.Zero).AddDays(-1), 20, args[3]);
        break;
    case "fleet":
        await Fleet(new Uri(args[1]), int.Parse(args[2], invariant), args[3], int.Parse(args[4], invariant),
            args.Length > 6 ? (new Uri(args[5]), int.Parse(args[6], invariant)) : null);
        break;
    default:
        Console.Error.WriteLine("usage: ingest URL FILE CONCURRENCY SECONDS | seed URL FILE COUNT | find URL QUERIES | merge URL PID RUNS | fleet URL PID CORPUS DAYS [READ_URL READ_PID] | gauges URL CORPUS SERVICE | changes URL CORPUS SEEDS | backfill URL PID CORPUS COUNT");
        return 2;
}

return 0;

async Task Ingest(Uri url, byte[] body, int concurrency, TimeSpan duration, string type)
{
    var latencies = new List<double>[concurrency];
    var failures = 0;
    var stopwatch = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async c =>
    {
        var mine = latencies[c] = [];
        for (var n = 0; stopwatch.Elapsed < duration; n++)
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await http.PostAsync(new Uri(url, $"/api/0/profiles?service=load&type={type}&instance_id=c{c}&labels=client%3Dc{c}"), new ByteArrayContent(body));
            await response.Content.ReadAsByteArrayAsync();
            if (response.IsSuccessStatusCode)
                mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            else
                Interlocked.Increment(ref failures);
        }
    }));
    var elapsed = stopwatch.Elapsed.TotalSeconds;
    var all = latencies.SelectMany(l => l).Order().ToArray();
    Console.WriteLine(string.Create(invariant, $"ingest: {all.Length} profiles of {body.Length} bytes in {elapsed:F1} s with {concurrency} connections = {all.Length / elapsed:F0}/s; " +
        $"p50 {Percentile(all, 0.50):F1} ms, p99 {Percentile(all, 0.99):F1} ms; {failures} failed"));
}

async Task Seed(Uri url, string file, int count)
{
    // Distinct bodies per upload (the time differs), spread evenly over the last 24 h.
    var template = new ProfileDecoder().Decode(File.ReadAllBytes(file));
    var now = DateTimeOffset.UtcNow;
    var next = -1;
    var stopwatch = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
    {
        int i;
        while ((i = Interlocked.Increment(ref next)) < count)
        {
            var profile = template.Clone();
            var created = now.AddDays(-1).AddTicks(TimeSpan.TicksPerDay / count * i);
            profile.TimeNanos = (created.UtcTicks - DateTime.UnixEpoch.Ticks) * 100;
            var service = "svc-" + (i % 4);
            var type = i / 4 % 2 == 0 ? "cpu" : "heap"; // the type is not checked against the content
            var labels = $"region%3D{(i % 3 == 0 ? "eu" : "us")},version%3D1.{i % 5},instance%3Dhost-{i % 50}";
            using var response = await http.PostAsync(new Uri(url, $"/api/0/profiles?service={service}&type={type}&labels={labels}"),
                new ByteArrayContent(ProfileEncoder.ToGzipBytes(profile)));
            response.EnsureSuccessStatusCode();
        }
    }));
    Console.WriteLine(string.Create(invariant, $"seed: {count} profiles in {stopwatch.Elapsed.TotalSeconds:F1} s"));
}

async Task Find(Uri url, int queries)
{
    var now = DateTimeOffset.UtcNow;
    var random = new Random(42);
    string Format(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss", invariant);

    async Task<(double[] Latencies, double Matches)> Run(Func<string> query)
    {
        var latencies = new double[queries];
        long matches = 0;
        for (var i = -20; i < queries; i++) // 20 warm-up queries
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await http.GetAsync(new Uri(url, query()));
            var text = await response.Content.ReadAsStringAsync();
            if (i >= 0)
            {
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                matches += text.Split("\"id\"").Length - 1;
            }
        }

        Array.Sort(latencies);
        return (latencies, matches / (double)queries);
    }

    var hour = await Run(() =>
    {
        var from = now.AddHours(-23).AddMinutes(random.Next(0, 22 * 60));
        return $"/api/0/profiles?service=svc-{random.Next(4)}&type=cpu&from={Format(from)}&to={Format(from.AddHours(1))}&labels=version%3D1.{random.Next(5)}";
    });
    Console.WriteLine(string.Create(invariant, $"find 1 h + label: p50 {Percentile(hour.Latencies, 0.5):F2} ms, p99 {Percentile(hour.Latencies, 0.99):F2} ms, {hour.Matches:F0} matches on average"));

    var day = await Run(() =>
        $"/api/0/profiles?service=svc-{random.Next(4)}&type=cpu&from={Format(now.AddDays(-1))}&to={Format(now)}&labels=region%3Deu&limit=100");
    Console.WriteLine(string.Create(invariant, $"find 24 h + label + limit=100: p50 {Percentile(day.Latencies, 0.5):F2} ms, p99 {Percentile(day.Latencies, 0.99):F2} ms, {day.Matches:F0} matches on average"));
}

async Task Merge(Uri url, int pid, int runs)
{
    var now = DateTimeOffset.UtcNow;
    string Format(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss", invariant);
    // svc-0 cpu over the day holds ~1/8 of the seeded profiles; limit=1000 takes the newest 1,000 of them.
    var query = $"/api/0/profiles/merge?service=svc-0&type=cpu&from={Format(now.AddDays(-2))}&to={Format(now)}&limit=1000";
    var latencies = new List<double>();
    long peakGrowth = 0;
    for (var i = -2; i < runs; i++)
    {
        var before = Rss(pid, "VmRSS");
        await File.WriteAllTextAsync($"/proc/{pid}/clear_refs", "5"); // resets the peak RSS (VmHWM)
        var started = Stopwatch.GetTimestamp();
        var bytes = await http.GetByteArrayAsync(new Uri(url, query));
        var took = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (i < 0)
            continue; // warm-up
        latencies.Add(took);
        peakGrowth = Math.Max(peakGrowth, Rss(pid, "VmHWM") - before);
        if (i == 0)
        {
            var merged = new ProfileDecoder().Decode(bytes);
            Console.WriteLine(string.Create(invariant, $"merge output: {bytes.Length} bytes, {merged.Sample.Count} samples, totals {string.Join("/", merged.Totals())}"));
        }
    }

    var sorted = latencies.Order().ToArray();
    Console.WriteLine(string.Create(invariant, $"merge of 1,000 CPU profiles: p50 {Percentile(sorted, 0.5):F0} ms, max {sorted[^1]:F0} ms over {runs} runs; peak RSS growth {peakGrowth / 1024.0 / 1024.0:F1} MiB"));
}

async Task Fleet(Uri url, int pid, string corpus, int days, (Uri Url, int Pid)? reader)
{
    // The fleet at cardinality: many instances, and a filter on version that matches half of them.
    var instances = int.TryParse(Environment.GetEnvironmentVariable("FLEET_INSTANCES"), out var n) && n > 0 ? n : 20;
    var writer = url;
    string Format(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss", invariant);
    var decoder = new ProfileDecoder();
    var profiles = new[] { "cpu_1.pb.gz", "cpu_2.pb.gz", "cpu_3.pb.gz" }.Select(f => decoder.Decode(File.ReadAllBytes(Path.Combine(corpus, f)))).ToArray();
    // Whole days ending at the start of today (UTC): every bucket of the fleet's week is over, so it can be built.
    var end = new DateTimeOffset(DateTimeOffset.UtcNow.UtcDateTime.Date, TimeSpan.Zero);
    var start = end.AddDays(-days);
    var minutes = days * 1440;
    var stopwatch = Stopwatch.StartNew();
    var posted = 0;
    var failures = 0;
    await Task.WhenAll(Enumerable.Range(0, 16).Select(async worker =>
    {
        for (var i = worker; i < minutes * instances; i += 16)
        {
            var (minute, instance) = Math.DivRem(i, instances);
            var profile = profiles[i % profiles.Length].Clone();
            var time = start.AddMinutes(minute).AddSeconds(instance * 60.0 / Math.Max(instances, 30)); // within its minute, however many
            profile.TimeNanos = (time.UtcTicks - DateTime.UnixEpoch.Ticks) * 100;
            var version = instances > 20 ? (instance % 2 == 0 ? "1.4" : "1.5") : minute < minutes / 2 ? "1.4" : "1.5"; // a rollout half-way through
            using var response = await http.PostAsync(new Uri(url, $"/api/0/profiles?service=fleet&type=cpu&instance_id=i{instance:D2}&labels=host%3Dh{instance:D2},version%3D{version}"),
                new ByteArrayContent(profile.ToByteArray()));
            if (response.IsSuccessStatusCode)
                Interlocked.Increment(ref posted);
            else
                Interlocked.Increment(ref failures);
        }
    }));
    var seeding = stopwatch.Elapsed.TotalSeconds;
    Console.WriteLine(string.Create(invariant, $"fleet: {posted} profiles ({instances} instances x {days} d) in {seeding:F0} s = {posted / seeding:F0}/s while pieces are built; {failures} failed"));

    // At once: the merges a postmortem asks right after the writes, before the builder has caught up (each once,
    // as the pieces change under it); their totals are compared with the same merges once the pieces are built.
    var mid = start.AddDays(days / 2.0).AddMinutes(17).AddSeconds(23); // nothing aligned to a bucket
    var merges = new (string Name, string Query)[]
    {
        ("merge 1 h", $"/api/0/profiles/merge?service=fleet&type=cpu&from={Format(mid)}&to={Format(mid.AddHours(1))}"),
        ("merge 24 h", $"/api/0/profiles/merge?service=fleet&type=cpu&from={Format(mid.AddDays(-1))}&to={Format(mid)}"),
        ("merge 24 h + version=1.5", $"/api/0/profiles/merge?service=fleet&type=cpu&from={Format(mid.AddDays(-1))}&to={Format(mid)}&labels=version%3D1.5"),
        ($"merge {days} d", $"/api/0/profiles/merge?service=fleet&type=cpu&from={Format(start)}&to={Format(end)}"),
    };
    var atOnce = new Dictionary<string, string>();
    foreach (var (name, query) in merges)
    {
        var started = Stopwatch.GetTimestamp();
        using var answered = await http.GetAsync(new Uri(reader?.Url ?? url, query));
        var took = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var body = await answered.Content.ReadAsByteArrayAsync();
        atOnce[name] = answered.IsSuccessStatusCode ? string.Join("/", decoder.Decode(body).Totals()) : $"{(int)answered.StatusCode}";
        var pending = await Gauge(url, "hotpath_rollup_pending_buckets");
        Console.WriteLine(string.Create(invariant, $"at once: {name}: {(int)answered.StatusCode} in {took:F0} ms; pending buckets {pending:F0}"));
    }

    stopwatch.Restart();
    await PiecesBuiltAsync(url, reader?.Url ?? url);
    var built = stopwatch.Elapsed.TotalSeconds;
    var pieces = await Gauge(url, "hotpath_rollup_size_bytes") / 1048576.0;
    var store = await Gauge(url, "hotpath_store_size_bytes") / 1048576.0;
    Console.WriteLine(string.Create(invariant, $"fleet: pieces built {built:F0} s after the last write; pre-merged bodies {pieces:F1} MiB, whole store {store:F1} MiB"));

    // Reads through a second collector when given one: scale-out engines serve any collector's writes.
    if (reader is { } other)
    {
        await Visibility(url, other.Url, File.ReadAllBytes(Path.Combine(corpus, "cpu_1.pb.gz")));
        (url, pid) = other;
    }

    foreach (var (name, query) in merges)
    {
        var settled = string.Join("/", decoder.Decode(await http.GetByteArrayAsync(new Uri(url, query))).Totals());
        Console.WriteLine($"at once vs settled: {name}: {(atOnce[name] == settled ? "exact" : $"DIFFERENT ({atOnce[name]} against {settled})")}");
    }

    (string Name, string Query)[] queries =
    [
        .. merges,
        ("find 24 h + host", $"/api/0/profiles?service=fleet&from={Format(mid.AddDays(-1))}&to={Format(mid)}&labels=host%3Dh07"),
        ($"UI series {days} d, 60 buckets", $"/api/0/ui/series?service=fleet&type=cpu&from={Format(start)}&to={Format(end)}&buckets=60"),
        ($"UI profile {days} d", $"/api/0/ui/profile?service=fleet&type=cpu&from={Format(start)}&to={Format(end)}"),
        ($"UI explore host {days} d (20 values)", $"/api/0/ui/explore?service=fleet&type=cpu&from={Format(start)}&to={Format(end)}&key=host&buckets=30"),
        ($"UI explore version {days} d", $"/api/0/ui/explore?service=fleet&type=cpu&from={Format(start)}&to={Format(end)}&key=version&buckets=30"),
        ($"UI sandwich {days} d", $"/api/0/ui/sandwich?service=fleet&type=cpu&from={Format(start)}&to={Format(end)}&function=sort.pdqsort"),
        // What changed from version 1.4 to 1.5 (rolled out half-way): the day around the rollout, and the whole range.
        ("changes 24 h, version 1.4 vs 1.5", $"/api/0/changes?service=fleet&type=cpu&from={Format(mid.AddHours(-12))}&to={Format(mid.AddHours(12))}&labels=version%3D1.4&cmp_labels=version%3D1.5"),
        ($"changes {days} d, version 1.4 vs 1.5", $"/api/0/changes?service=fleet&type=cpu&from={Format(start)}&to={Format(end)}&labels=version%3D1.4&cmp_labels=version%3D1.5"),
    ];
    // Grafana's Pyroscope data source: the same ranges through Pyroscope's query service (Connect JSON, as a browser sends it).
    const string Cpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
    string Ms(DateTimeOffset t) => t.ToUnixTimeMilliseconds().ToString(invariant);
    string Connect(string method, string selector, DateTimeOffset from, DateTimeOffset to, string more = "") =>
        $"POST /querier.v1.QuerierService/{method} " + JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["profileTypeID"] = Cpu, ["labelSelector"] = selector, ["start"] = Ms(from), ["end"] = Ms(to),
        })[..^1] + more + "}";
    var grafana = new (string Name, string Query)[]
    {
        ("Grafana flame graph 24 h", Connect("SelectMergeStacktraces", "{service_name=\"fleet\"}", mid.AddDays(-1), mid)),
        ("Grafana flame graph 24 h + version=1.5", Connect("SelectMergeStacktraces", "{service_name=\"fleet\", version=\"1.5\"}", mid.AddDays(-1), mid)),
        ($"Grafana flame graph {days} d", Connect("SelectMergeStacktraces", "{service_name=\"fleet\"}", start, end)),
        ($"Grafana flame graph {days} d + version=~1\\.5", Connect("SelectMergeStacktraces", "{service_name=\"fleet\", version=~\"1\\\\.5\"}", start, end)),
        ($"Grafana SelectSeries {days} d, step 1 h", Connect("SelectSeries", "{service_name=\"fleet\"}", start, end, ",\"step\":3600")),
        ($"Grafana SelectSeries {days} d by version, step 1 h", Connect("SelectSeries", "{service_name=\"fleet\"}", start, end, ",\"step\":3600,\"groupBy\":[\"version\"]")),
        ($"Grafana ProfileTypes {days} d", Connect("ProfileTypes", "{}", start, end)),
        ($"Grafana LabelValues host {days} d", Connect("LabelValues", "{service_name=\"fleet\"}", start, end, ",\"name\":\"host\",\"matchers\":[\"{service_name=\\\"fleet\\\"}\"]")),
    };
    foreach (var (name, query) in queries.Concat(grafana))
    {
        var latencies = new List<double>();
        long peakGrowth = 0;
        var size = 0;
        for (var i = -1; i < 10; i++)
        {
            var before = Rss(pid, "VmRSS");
            await File.WriteAllTextAsync($"/proc/{pid}/clear_refs", "5");
            var started = Stopwatch.GetTimestamp();
            byte[] bytes;
            if (query.StartsWith("POST ", StringComparison.Ordinal))
            {
                var space = query.IndexOf(' ', 5);
                using var answered = await http.PostAsync(new Uri(url, query[5..space]), new StringContent(query[(space + 1)..], System.Text.Encoding.UTF8, "application/json"));
                answered.EnsureSuccessStatusCode();
                bytes = await answered.Content.ReadAsByteArrayAsync();
            }
            else
            {
                bytes = await http.GetByteArrayAsync(new Uri(url, query));
            }
            if (i < 0)
                continue; // warm-up
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            peakGrowth = Math.Max(peakGrowth, Rss(pid, "VmHWM") - before);
            size = bytes.Length;
        }

        var sorted = latencies.Order().ToArray();
        Console.WriteLine(string.Create(invariant, $"{name}: p50 {Percentile(sorted, 0.5):F0} ms, max {sorted[^1]:F0} ms; peak RSS growth {peakGrowth / 1048576.0:F1} MiB; {size} bytes"));
    }

    await Gauges(writer, url, corpus, end.AddDays(-1), 20);
}

// The fleet's heap over its last day: a snapshot every 144 s of each instance (600 a day), heap_1 and heap_2 in
// turn, then the UI's default for heap, in-use averaged per instance (aggregation=avg), at once and once the
// pieces are built, against the average computed here: each instance's 300 + 300 snapshots summed, its in-use
// columns divided by 600 (as Go's ScaleN rounds), times the instances.
async Task Gauges(Uri writer, Uri reader, string corpus, DateTimeOffset start, int instances, string service = "gauges")
{
    const int Snapshots = 600;
    var decoder = new ProfileDecoder();
    var bodies = new[] { "heap_1.pb.gz", "heap_2.pb.gz" }.Select(f => decoder.Decode(File.ReadAllBytes(Path.Combine(corpus, f)))).ToArray();
    var stopwatch = Stopwatch.StartNew();
    var failures = 0;
    await Task.WhenAll(Enumerable.Range(0, 16).Select(async worker =>
    {
        for (var n = worker; n < Snapshots * instances; n += 16)
        {
            var (snapshot, instance) = Math.DivRem(n, instances);
            var profile = bodies[snapshot % 2].Clone();
            profile.TimeNanos = (start.AddSeconds(snapshot * 144 + instance).UtcTicks - DateTime.UnixEpoch.Ticks) * 100;
            using var response = await http.PostAsync(new Uri(writer, $"/api/0/profiles?service={service}&type=heap&instance_id=i{instance:D2}&labels=host%3Dh{instance:D2}"),
                new ByteArrayContent(profile.ToByteArray()));
            if (!response.IsSuccessStatusCode)
                Interlocked.Increment(ref failures);
        }
    }));
    Console.WriteLine(string.Create(invariant, $"gauges: {Snapshots * instances} heap snapshots ({instances} instances x 1 d) in {stopwatch.Elapsed.TotalSeconds:F0} s; {failures} failed"));

    var one = new ProfileMerger();
    one.Add(bodies[0]);
    one.Add(bodies[1]);
    var instanceAverage = one.Build();
    instanceAverage.ScaleN([.. instanceAverage.SampleType.Select(_ => Snapshots / 2.0)]);
    instanceAverage.ScaleN([.. Aggregations.GaugeColumns(instanceAverage).Select(gauge => gauge ? 1.0 / Snapshots : 1.0)]);
    var expected = string.Join("/", instanceAverage.Totals().Select(t => t * instances));
    var range = $"service={service}&type=heap&from={start.UtcDateTime:yyyy-MM-ddTHH:mm:ss}&to={start.AddDays(1).AddSeconds(-1).UtcDateTime:yyyy-MM-ddTHH:mm:ss}";
    async Task AskAsync(string when)
    {
        var started = Stopwatch.GetTimestamp();
        using var merged = await http.GetAsync(new Uri(reader, $"/api/0/profiles/merge?{range}&aggregation=avg"));
        var tookMerge = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var totals = merged.IsSuccessStatusCode ? string.Join("/", decoder.Decode(await merged.Content.ReadAsByteArrayAsync()).Totals()) : "";
        started = Stopwatch.GetTimestamp();
        using var ui = await http.GetAsync(new Uri(reader, $"/api/0/ui/profile?{range}"));
        var tookUi = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        Console.WriteLine(string.Create(invariant,
            $"gauges {when}: merge avg 1 d {(int)merged.StatusCode} in {tookMerge:F0} ms ({(totals == expected ? "exact" : $"DIFFERENT: {totals} against {expected}")}); UI profile (avg) 1 d {(int)ui.StatusCode} in {tookUi:F0} ms"));
    }

    await AskAsync("at once");
    await PiecesBuiltAsync(writer, reader);
    await AskAsync("settled");
}

async Task Changes(Uri url, string corpus, int seeds)
{
    const int Instances = 10, Minutes = 30;
    var scenario = new Hotpath.Testing.ChangeScenario(new ProfileDecoder().Decode(File.ReadAllBytes(Path.Combine(corpus, "cpu_2.pb.gz"))));
    var start = new DateTimeOffset(DateTimeOffset.UtcNow.UtcDateTime.Date, TimeSpan.Zero).AddHours(DateTimeOffset.UtcNow.Hour - 2);
    string Format(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss", invariant);
    int detected = 0, falsePositives = 0, failures = 0;
    var latencies = new List<double>();
    for (var seed = 0; seed < seeds; seed++)
    {
        var service = $"changes-{Guid.NewGuid():N}";
        var posts = scenario.TwoVersions(service, start, Instances, Minutes, seed).ToList();
        await Parallel.ForEachAsync(posts, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (post, _) =>
        {
            using var response = await http.PostAsync(new Uri(url, "/api/0/profiles?" + post.Query), new ByteArrayContent(post.Body));
            if (!response.IsSuccessStatusCode)
                Interlocked.Increment(ref failures);
        });
        var range = $"service={service}&type=cpu&from={Format(start)}&to={Format(start.AddMinutes(Minutes).AddSeconds(-1))}";
        var half = start.AddMinutes(Minutes / 2);
        var started = Stopwatch.GetTimestamp();
        using var planted = JsonDocument.Parse(await http.GetStringAsync(new Uri(url, $"/api/0/changes?{range}&labels=version%3D1.4&cmp_labels=version%3D1.5")));
        latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        using var halves = JsonDocument.Parse(await http.GetStringAsync(new Uri(url,
            $"/api/0/changes?service={service}&type=cpu&from={Format(start)}&to={Format(half.AddSeconds(-1))}&cmp_from={Format(half)}&cmp_to={Format(start.AddMinutes(Minutes).AddSeconds(-1))}&labels=version%3D1.4")));
        var first = planted.RootElement.GetProperty("body").GetProperty("changes").EnumerateArray().FirstOrDefault();
        if (first.ValueKind == JsonValueKind.Object && first.GetProperty("function").GetString() == scenario.Leaf && first.GetProperty("regressed").GetBoolean())
            detected++;
        falsePositives += halves.RootElement.GetProperty("body").GetProperty("regressions").GetInt32();
    }

    latencies.Sort();
    Console.WriteLine(string.Create(invariant,
        $"changes: planted +8 points ranked first and regressed in {detected} of {seeds} seeds; regressions in A/A halves: {falsePositives} over {seeds} seeds; {failures} writes failed; 1.4 vs 1.5 (30 intervals a side) p50 {latencies[latencies.Count / 2]:F0} ms"));
}

async Task Backfill(Uri url, int pid, string corpus, int count)
{
    var decoder = new ProfileDecoder();
    var profiles = new[] { "cpu_1.pb.gz", "cpu_2.pb.gz", "cpu_3.pb.gz" }.Select(f => decoder.Decode(File.ReadAllBytes(Path.Combine(corpus, f)))).ToArray();
    var end = new DateTimeOffset(DateTimeOffset.UtcNow.UtcDateTime.Date, TimeSpan.Zero);
    var random = new Random(27);
    // Drawn up front, so that the posts cost the same whatever the seed.
    var posts = Enumerable.Range(0, count).Select(_ => (Service: random.Next(20), Set: random.Next(30), Ticks: random.NextInt64(TimeSpan.FromDays(7).Ticks))).ToArray();
    long bodies = 0;
    var cpu = ServerCpuSeconds(pid);
    var stopwatch = Stopwatch.StartNew();
    var failures = 0;
    await Task.WhenAll(Enumerable.Range(0, 16).Select(async worker =>
    {
        for (var n = worker; n < count; n += 16)
        {
            var (service, set, ticks) = posts[n];
            var profile = profiles[n % profiles.Length].Clone();
            profile.TimeNanos = (end.AddDays(-7).AddTicks(ticks).UtcTicks - DateTime.UnixEpoch.Ticks) * 100;
            var body = profile.ToByteArray();
            Interlocked.Add(ref bodies, body.Length);
            using var response = await http.PostAsync(new Uri(url, $"/api/0/profiles?service=import{service:D2}&type=cpu&instance_id=i{set:D2}&labels=host%3Dh{set:D2},zone%3Dz{set % 3}"),
                new ByteArrayContent(body));
            if (!response.IsSuccessStatusCode)
                Interlocked.Increment(ref failures);
        }
    }));
    var seconds = stopwatch.Elapsed.TotalSeconds;
    var used = ServerCpuSeconds(pid) - cpu;
    Console.WriteLine(string.Create(invariant, $"backfill: {count} profiles (20 services x 30 label sets over 7 d) in {seconds:F0} s = {count / seconds:F0}/s, {used / count * 1000:F2} server CPU-s per 1,000; {failures} failed; bodies {bodies / 1048576.0:F1} MiB"));
    stopwatch.Restart();
    await PiecesBuiltAsync(url, url);
    Console.WriteLine(string.Create(invariant, $"backfill: pieces built {stopwatch.Elapsed.TotalSeconds:F0} s after the last write, {ServerCpuSeconds(pid) - cpu - used:F0} server CPU-s more"));
}

// utime + stime of the process, in seconds (USER_HZ is 100 on Linux).
static double ServerCpuSeconds(int pid)
{
    var fields = File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
    return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
}

// How long a profile written through one collector takes to be found through another: 20 writes, one at a time.
async Task Visibility(Uri writer, Uri reader, byte[] body)
{
    var latencies = new List<double>();
    for (var i = 0; i < 20; i++)
    {
        var label = Guid.NewGuid().ToString("N");
        var started = Stopwatch.GetTimestamp();
        using (var posted = await http.PostAsync(new Uri(writer, $"/api/0/profiles?service=visible&type=cpu&labels=probe%3D{label}"), new ByteArrayContent(body)))
            posted.EnsureSuccessStatusCode();
        var find = new Uri(reader, $"/api/0/profiles?service=visible&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00&labels=probe%3D{label}");
        while (Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(30))
        {
            using var found = await http.GetAsync(find);
            if (found.IsSuccessStatusCode)
                break;
            await Task.Delay(5);
        }

        latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    var sorted = latencies.Order().ToArray();
    Console.WriteLine(string.Create(invariant, $"written through one collector, found through the other: p50 {Percentile(sorted, 0.5):F0} ms, max {sorted[^1]:F0} ms (20 writes)"));
}

// Until the pieces are built, for at most 30 minutes: every collector builds them (on ClickHouse each builds them
// all, once the writer's journal is shipped), so the reader's too.
async Task PiecesBuiltAsync(Uri writer, Uri reader)
{
    var stopwatch = Stopwatch.StartNew();
    while ((await Gauge(writer, "hotpath_journal_pending_profiles") > 0 || await Gauge(writer, "hotpath_rollup_pending_buckets") > 0
            || await Gauge(reader, "hotpath_rollup_pending_buckets") > 0) && stopwatch.Elapsed < TimeSpan.FromMinutes(30))
        await Task.Delay(1000);
}

async Task<double> Gauge(Uri url, string name)
{
    var metrics = await http.GetStringAsync(new Uri(url, "/metrics"));
    var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith(name + " ", StringComparison.Ordinal));
    return line is null ? 0 : double.Parse(line[(name.Length + 1)..], invariant);
}

static long Rss(int pid, string field)
{
    foreach (var line in File.ReadLines($"/proc/{pid}/status"))
    {
        if (line.StartsWith(field + ":", StringComparison.Ordinal))
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    return 0;
}

static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
