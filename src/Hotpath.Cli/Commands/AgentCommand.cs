using System.CommandLine;
using Hotpath.Agent;
using Hotpath.Pprof;

namespace Hotpath.Cli.Commands;

/// <summary>
/// hotpath agent: profile a running .NET process from outside, through its diagnostic port, and store the
/// profiles in the collector: each interval, one EventPipe window gives cpu, heap, mutex and exception profiles.
/// </summary>
public static class AgentCommand
{
    public static Command Create(CliContext context)
    {
        var pid = new Option<int>("--pid", "-p") { Description = "Process id of the .NET process to profile", Required = true };
        var service = new Option<string>("--service", "-s") { Description = "Service name to store the profiles under", Required = true };
        var labels = new Option<string[]>("--label", "-l") { Description = "Label key=value for every profile (repeatable); version defaults to the target's entry assembly version" };
        var types = new Option<string>("--types", "-t") { Description = "Profiles to record: cpu, heap, mutex, exceptions (stored as other); comma-separated", DefaultValueFactory = _ => "cpu,heap,mutex,exceptions" };
        var window = new Option<string>("--window") { Description = "How long each recording lasts (sampling costs the target while it runs)", DefaultValueFactory = _ => "3s" };
        var interval = new Option<string>("--interval") { Description = "Time from the start of one recording to the next", DefaultValueFactory = _ => "60s" };
        var rounds = new Option<int>("--rounds") { Description = "Stop after this many recordings, each giving one profile per type (0: until stopped)" };
        var command = new Command("agent", """
            Profile a running .NET process by PID through EventPipe and push cpu, heap, mutex and exception profiles to the collector.
            Example: hotpath agent --pid 4242 --service checkout --collector http://localhost:10100
            """)
        {
            pid, service, labels, types, window, interval, rounds,
        };

        command.SetAction((parsed, cancellationToken) => context.RunAsync(async () =>
        {
            if (!ProfileKindNames.TryParse(parsed.GetValue(types)!, out var kinds, out var unknown))
                throw new ArgumentException($"--types: unknown profile type '{unknown}' (cpu, heap, mutex, exceptions)");
            if (!TimeArguments.TryParseDuration(parsed.GetValue(window)!, out var recording) || recording <= TimeSpan.Zero)
                throw new ArgumentException("--window is not a duration (10s, 1m)");
            if (!TimeArguments.TryParseDuration(parsed.GetValue(interval)!, out var every) || every < recording)
                throw new ArgumentException("--interval must be a duration no shorter than --window");

            var target = parsed.GetValue(pid);
            var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (key, value) in SelectionOptions.ParseLabels(parsed.GetValue(labels)))
                pairs[key] = value; // the last --label of a key wins

            // The in-process agent's uploader: a collector that is away for a while costs retries, not the attach.
            var output = TextWriter.Synchronized(context.Output);
            var queued = 0;
            var uploader = new ProfileUploader(new UploaderOptions
            {
                Collector = new Uri(parsed.GetValue(CliApp.Collector)!.TrimEnd('/') + "/"),
                Service = parsed.GetValue(service)!,
                InstanceId = UploaderOptions.DefaultInstanceId(target),
                Labels = AppVersion.AddTo(pairs, AppVersion.OfProcess(target)),
                Token = parsed.GetValue(CliApp.Token),
                DrainTimeout = TimeSpan.FromSeconds(30),
                Stored = (type, id) => output.WriteLine($"{DateTimeOffset.UtcNow:HH:mm:ss} stored {type} profile of process {target}: {id}"),
            }, new CliLogger<ProfileUploader>(TextWriter.Synchronized(context.Error)));
            await using (uploader)
            {
                var max = parsed.GetValue(rounds);
                for (var round = 1; max == 0 || round <= max; round++)
                {
                    var started = DateTimeOffset.UtcNow;
                    IReadOnlyList<RecordedProfile> recorded;
                    try
                    {
                        recorded = await ProfileSession.RecordAsync(target, kinds, recording, cancellationToken);
                    }
                    catch (Exception e) when (e is Microsoft.Diagnostics.NETCore.Client.ServerNotAvailableException or ArgumentException)
                    {
                        throw new ArgumentException($"cannot attach to process {target}: {e.Message} (is it a .NET process of this user, with diagnostics enabled?)");
                    }

                    if (recorded.Count == 0)
                        await output.WriteLineAsync($"{DateTimeOffset.UtcNow:HH:mm:ss} no samples in this window; nothing stored");
                    foreach (var (type, profile) in recorded)
                    {
                        uploader.Enqueue(type, ProfileEncoder.ToGzipBytes(profile));
                        queued++;
                        await output.WriteLineAsync($"{DateTimeOffset.UtcNow:HH:mm:ss} recorded {type} profile of process {target} ({profile.Sample.Count} stacks)");
                    }

                    if (max != 0 && round == max)
                        break;
                    var wait = every - (DateTimeOffset.UtcNow - started);
                    if (wait > TimeSpan.Zero)
                        await Task.Delay(wait, cancellationToken);
                }
            }

            var lost = queued - uploader.Uploaded;
            if (lost > 0)
                await context.Error.WriteLineAsync($"hotpath: {lost} of {queued} profiles did not reach the collector (see the lines above)");
            return lost == 0 ? 0 : 1;
        }));
        return command;
    }
}
