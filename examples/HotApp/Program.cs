using System.Diagnostics;
using System.Globalization;
using HotApp;
using Hotpath.Agent;
using Microsoft.Extensions.Configuration;

// Known hot paths, like profefe's hotapp:
// - one busy thread (BusyLoop.Run) spending 60% of its time in Work.Checksum and 40% in Work.Parse;
// - an allocator thread allocating ~10 MB/s, 80% of the bytes in Work.Allocate (byte[]), 20% in Work.Describe;
// - two workers contending for one lock in Work.Reserve;
// - four requests always in flight on the thread pool, each blocked on .Result of a 500 ms call (Requests.FetchBlocking),
//   and one awaiting a 300 ms call (Requests.RunHistoryAsync), each in a trace span.
// Runs until stopped, or for --seconds N; --agent URL profiles it in-process and pushes to that collector.
// At the end it prints its throughput (rounds of work per second in each busy method) and its peak memory.
var seconds = 0;
string? collector = null;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--seconds": seconds = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--agent": collector = args[i + 1]; break;
        default: Console.Error.WriteLine($"unknown option {args[i]}; usage: HotApp [--seconds N] [--agent http://localhost:10100]"); return 2;
    }
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };

var busy = new BusyLoop();

// Spans of HotApp's requests, recorded as an OpenTelemetry SDK would; the agent labels samples taken in them.
using var spans = new ActivityListener
{
    ShouldListenTo = source => source.Name == Requests.SourceName,
    Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
};
ActivitySource.AddActivityListener(spans);

// The agent in a console app without a generic host; its settings can also come from the environment,
// e.g. Hotpath__Agent__Window=00:00:05 or Hotpath__Agent__Labels__region=eu-west.
var agentOptions = new HotpathAgentOptions { Service = "hotapp" }; // labelled version=1.4.0 from HotApp.csproj
new ConfigurationBuilder().AddEnvironmentVariables().Build().GetSection(HotpathAgentOptions.Section).Bind(agentOptions);
agentOptions.CollectorAddress = collector ?? agentOptions.CollectorAddress;
await using var agent = collector is null ? null : await HotpathAgent.StartAsync(agentOptions);

var threads = new[]
{
    new Thread(() => busy.Run(stop.Token)) { Name = "busy" },
    new Thread(() =>
    {
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            Work.Allocate(n);
            Work.Describe(n);
            Thread.Sleep(10);
        }
    }) { Name = "allocator" },
    new Thread(() => { while (!stop.IsCancellationRequested) Work.Reserve(); }) { Name = "worker-1" },
    new Thread(() => { while (!stop.IsCancellationRequested) Work.Reserve(); }) { Name = "worker-2" },
};
var requests = new Requests();
var started = Stopwatch.GetTimestamp();
foreach (var thread in threads)
    thread.Start();
var serving = Task.WhenAll(requests.RunAsync(stop.Token), Requests.RunHistoryAsync(stop.Token));
Console.WriteLine($"HotApp {Environment.ProcessId} running{(seconds > 0 ? $" for {seconds} s" : "")}: 60% Work.Checksum, 40% Work.Parse; Work.Allocate; lock in Work.Reserve; .Result in Requests.FetchBlocking");
if (seconds > 0)
    stop.CancelAfter(TimeSpan.FromSeconds(seconds));
foreach (var thread in threads)
    thread.Join();
await serving;

var elapsed = Stopwatch.GetElapsedTime(started);
using var self = Process.GetCurrentProcess();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"throughput {busy.ChecksumRounds / elapsed.TotalSeconds:F0} checksum rounds/s, {busy.ParseRounds / elapsed.TotalSeconds:F0} parse rounds/s over {elapsed.TotalSeconds:F1} s; Work.Checksum {100 * busy.InChecksum / (busy.InChecksum + busy.InParse):F1}% of the busy loop; peak working set {self.PeakWorkingSet64 / (1024 * 1024)} MiB (checksum {busy.Sink & 0xff}); blocked {Requests.BlockedTicks / (double)Stopwatch.Frequency / elapsed.TotalSeconds:F2} threads on average in Requests.FetchBlocking"));
return 0;
