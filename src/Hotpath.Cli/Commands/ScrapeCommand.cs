using System.Collections.Concurrent;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Hotpath.Pprof;
using Hotpath.Pprof.Proto;

namespace Hotpath.Cli.Commands;

/// <summary>
/// hotpath scrape: pull Go services' /debug/pprof endpoints on a schedule and store what they return, so
/// Go services are profiled with no code change (what kprofefe does). Totals since the process started
/// are stored as what happened since the last scrape, as Parca and Pyroscope do: mutex and block are
/// fetched as deltas over a recording (<c>?seconds=N</c>), heap allocations made deltas between two scrapes.
/// </summary>
public static class ScrapeCommand
{
    // The types Go's net/http/pprof serves, and where.
    private static readonly Dictionary<ProfileType, string> Paths = new()
    {
        [ProfileType.Cpu] = "/debug/pprof/profile?seconds={0}",
        [ProfileType.Heap] = "/debug/pprof/heap",
        [ProfileType.Block] = "/debug/pprof/block?seconds={0}",
        [ProfileType.Mutex] = "/debug/pprof/mutex?seconds={0}",
        [ProfileType.Goroutine] = "/debug/pprof/goroutine",
        [ProfileType.Threadcreate] = "/debug/pprof/threadcreate",
        [ProfileType.Trace] = "/debug/pprof/trace?seconds={0}",
    };

    /// <summary>A type as the config names it, when Go serves it.</summary>
    private static bool TryScrapable(string name, out ProfileType type) => ProfileTypes.TryParse(name, out type) && Paths.ContainsKey(type);

    /// <summary>The type of a name that <see cref="ScrapeConfig.Validate"/> let through.</summary>
    private static ProfileType Scrapable(string name) =>
        TryScrapable(name, out var type) ? type : throw new InvalidOperationException($"type \"{name}\" was not validated");

    public static Command Create(CliContext context)
    {
        var targets = new Option<string[]>("--target") { Description = "Base URL of a Go service serving /debug/pprof (repeatable)" };
        var service = new Option<string?>("--service", "-s") { Description = "Service name to store the profiles under" };
        var types = new Option<string>("--types") { Description = "Comma-separated profile types", DefaultValueFactory = _ => "cpu,heap" };
        var interval = new Option<string>("--interval") { Description = "Time between rounds: 60s, 5m", DefaultValueFactory = _ => "60s" };
        var cpuSeconds = new Option<int>("--cpu-seconds") { Description = "Length of each recording: cpu, trace, and the mutex and block deltas", DefaultValueFactory = _ => 10 };
        var labels = new Option<string[]>("--label", "-l") { Description = "Label key=value for every profile (repeatable)" };
        var config = new Option<FileInfo?>("--config") { Description = "JSON file listing several targets (see README)" };
        var rounds = new Option<int>("--rounds") { Description = "Stop after this many rounds (0: run until stopped)" };
        var command = new Command("scrape", """
            Pull /debug/pprof profiles from Go services on a schedule and store them in the collector.
            Example: hotpath scrape --target http://app:6060 --service api --types cpu,heap,goroutine --interval 60s
            """)
        {
            targets, service, types, interval, cpuSeconds, labels, config, rounds,
        };

        command.SetAction((parsed, cancellationToken) => context.RunAsync(async () =>
        {
            var plan = parsed.GetValue(config) is { } file
                ? ScrapeConfig.Load(file.FullName)
                : ScrapeConfig.FromOptions(parsed.GetValue(targets) ?? [], parsed.GetValue(service), parsed.GetValue(types)!,
                    parsed.GetValue(interval)!, parsed.GetValue(cpuSeconds), parsed.GetValue(labels) ?? []);
            plan.Validate();
            if (!ProfileTime.TryParseDuration(plan.Interval, out var every) || every <= TimeSpan.Zero)
                throw new ArgumentException($"interval \"{plan.Interval}\" is not a duration (60s, 5m)");

            using var collector = CliContext.Client(parsed);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(plan.Targets.Max(t => t.CpuSeconds) + 60) };
            var maxRounds = parsed.GetValue(rounds);
            var failures = 0;
            var heaps = new ConcurrentDictionary<ScrapeTarget, Profile>();
            for (var round = 1; maxRounds == 0 || round <= maxRounds; round++)
            {
                var started = DateTimeOffset.UtcNow;
                var results = await Task.WhenAll(plan.Targets.SelectMany(t => t.Types.Select(name => ScrapeOnceAsync(context, http, collector, t, Scrapable(name), heaps, cancellationToken))));
                failures += results.Count(ok => !ok);
                if (maxRounds != 0 && round == maxRounds)
                    break;
                var wait = every - (DateTimeOffset.UtcNow - started);
                if (wait > TimeSpan.Zero)
                    await Task.Delay(wait, cancellationToken);
            }

            return failures == 0 ? 0 : 1;
        }));
        return command;
    }

    private static async Task<bool> ScrapeOnceAsync(CliContext context, HttpClient http, CollectorClient collector, ScrapeTarget target, ProfileType type,
        ConcurrentDictionary<ScrapeTarget, Profile> heaps, CancellationToken cancellationToken)
    {
        var url = new Uri(new Uri(target.Url), string.Format(CultureInfo.InvariantCulture, Paths[type], target.CpuSeconds));
        try
        {
            using var response = await http.GetAsync(url, cancellationToken);
            if (!response.IsSuccessStatusCode)
                throw new CollectorException($"{url} answered {(int)response.StatusCode} {response.ReasonPhrase}");
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            if (type == ProfileType.Heap)
            {
                // alloc_* count since the process started: store what this interval allocated (inuse_* stay as they are).
                var snapshot = new ProfileDecoder().Decode(body);
                var delta = CumulativeDelta.Since(snapshot, heaps.TryGetValue(target, out var previous) ? previous : null);
                heaps[target] = snapshot;
                if (delta.Sample.Count == 0)
                {
                    await context.Output.WriteLineAsync($"{DateTimeOffset.UtcNow:HH:mm:ss} nothing allocated or in use in {target.Service} from {target.Url}; nothing stored");
                    return true;
                }

                body = ProfileEncoder.ToGzipBytes(delta);
            }

            var labels = target.Labels.Select(l => l.Key + "=" + l.Value);
            var query = $"service={Uri.EscapeDataString(target.Service!)}&type={type.ToWire()}&instance_id={Uri.EscapeDataString(target.InstanceId ?? url.Authority)}";
            if (SelectionOptions.LabelQuery(labels) is { Length: > 0 } encoded)
                query += "&labels=" + encoded;
            var meta = await collector.PostAsync(query, body, cancellationToken);
            await context.Output.WriteLineAsync($"{DateTimeOffset.UtcNow:HH:mm:ss} stored {type.ToWire()} of {target.Service} from {target.Url}: {meta.GetProperty("id").GetString()}");
            return true;
        }
        catch (Exception e) when (e is HttpRequestException or CollectorException or MalformedProfileException or ProfileTooLargeException
            or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            await context.Error.WriteLineAsync($"{DateTimeOffset.UtcNow:HH:mm:ss} failed {type.ToWire()} of {target.Service} from {target.Url}: {e.Message}");
            return false;
        }
    }

    /// <summary>What to scrape: the --config JSON file, or the command-line options as one target.</summary>
    internal sealed class ScrapeConfig
    {
        public string Interval { get; set; } = "60s";

        public List<ScrapeTarget> Targets { get; set; } = [];

        private static readonly JsonSerializerOptions Json = new()
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            ReadCommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
        };

        public static ScrapeConfig Load(string path)
        {
            try
            {
                return JsonSerializer.Deserialize<ScrapeConfig>(File.ReadAllText(path), Json) ?? throw new ArgumentException($"{path} is empty");
            }
            catch (JsonException e)
            {
                throw new ArgumentException($"{path}: {e.Message}", e);
            }
        }

        public static ScrapeConfig FromOptions(string[] urls, string? service, string types, string interval, int cpuSeconds, string[] labels) => new()
        {
            Interval = interval,
            Targets = [.. urls.Select(url => new ScrapeTarget
            {
                Url = url,
                Service = service,
                Types = [.. types.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)],
                CpuSeconds = cpuSeconds,
                Labels = labels.Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "", StringComparer.Ordinal),
            })],
        };

        public void Validate()
        {
            if (Targets.Count == 0)
                throw new ArgumentException("nothing to scrape: give --target URL (and --service) or --config FILE");
            foreach (var target in Targets)
            {
                if (!Uri.TryCreate(target.Url, UriKind.Absolute, out _))
                    throw new ArgumentException($"target \"{target.Url}\" is not an absolute URL");
                if (string.IsNullOrEmpty(target.Service))
                    throw new ArgumentException($"target {target.Url} has no service");
                if (target.Types.FirstOrDefault(t => !TryScrapable(t, out _)) is { } unknown)
                    throw new ArgumentException($"target {target.Url}: cannot scrape type \"{unknown}\"; use {string.Join(", ", Paths.Keys.Select(t => t.ToWire()))}");
                if (target.CpuSeconds is < 1 or > 3600)
                    throw new ArgumentException($"target {target.Url}: cpu_seconds must be 1..3600");
            }
        }
    }

    internal sealed class ScrapeTarget
    {
        public string Url { get; set; } = "";

        public string? Service { get; set; }

        public string? InstanceId { get; set; }

        public List<string> Types { get; set; } = ["cpu", "heap"];

        [JsonPropertyName("cpu_seconds")]
        public int CpuSeconds { get; set; } = 10;

        public Dictionary<string, string> Labels { get; set; } = [];
    }
}
