using System.CommandLine;
using Hotpath.Agent;
using Hotpath.Agent.Perf;
using Hotpath.Pprof;

namespace Hotpath.Cli.Commands;

/// <summary>
/// hotpath agent: profile a running .NET process from outside and store the profiles in the collector. CPU
/// comes from the kernel's perf events, continuously, when the kernel allows it (else from EventPipe
/// windows, as said at start); each interval, one EventPipe window through the diagnostic port gives the
/// heap, mutex and exception profiles.
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
        var sampler = new Option<string>("--cpu-sampler")
        {
            Description = "How CPU is sampled: perf (the kernel's perf events, every CPU, continuously; needs root, CAP_PERFMON or kernel.perf_event_paranoid <= 0), eventpipe (EventPipe windows), or auto: perf when the kernel allows it, else eventpipe",
            DefaultValueFactory = _ => "auto",
        };
        sampler.AcceptOnlyFromAmong("auto", "perf", "eventpipe");
        var frequency = new Option<int>("--perf-frequency") { Description = "Samples a second per CPU of the perf sampler", DefaultValueFactory = _ => PerfCpuSampler.DefaultFrequency };
        var command = new Command("agent", """
            Profile a running .NET process by PID through EventPipe and push cpu, heap, mutex and exception profiles to the collector.
            Example: hotpath agent --pid 4242 --service checkout --collector http://localhost:10100
            """)
        {
            pid, service, labels, types, window, interval, rounds, sampler, frequency,
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
            using var perf = await StartPerfAsync(parsed.GetValue(sampler)!, kinds, target, parsed.GetValue(frequency), recording, every, output);
            // With perf events, the windows record the other kinds only.
            var windowKinds = perf is null ? kinds : kinds & ~ProfileKinds.Cpu;
            await using (uploader)
            {
                void Enqueue(string type, Pprof.Proto.Profile profile)
                {
                    uploader.Enqueue(type, ProfileEncoder.ToGzipBytes(profile));
                    queued++;
                    output.WriteLine($"{DateTimeOffset.UtcNow:HH:mm:ss} recorded {type} profile of process {target} ({profile.Sample.Count} stacks)");
                }

                var max = parsed.GetValue(rounds);
                for (var round = 1; max == 0 || round <= max; round++)
                {
                    var started = DateTimeOffset.UtcNow;
                    if (windowKinds != ProfileKinds.None)
                    {
                        IReadOnlyList<RecordedProfile> recorded;
                        try
                        {
                            recorded = await ProfileSession.RecordAsync(target, windowKinds, recording, cancellationToken);
                        }
                        catch (Exception e) when (e is Microsoft.Diagnostics.NETCore.Client.ServerNotAvailableException or ArgumentException)
                        {
                            throw new ArgumentException($"cannot attach to process {target}: {e.Message} (is it a .NET process of this user, with diagnostics enabled?)");
                        }

                        if (recorded.Count == 0)
                            await output.WriteLineAsync($"{DateTimeOffset.UtcNow:HH:mm:ss} no samples in this window; nothing stored");
                        foreach (var (type, profile) in recorded)
                            Enqueue(type, profile);
                    }

                    // The perf profile covers the whole interval: it is cut at its end, the last round's too.
                    var last = max != 0 && round == max;
                    var wait = every - (DateTimeOffset.UtcNow - started);
                    if (wait > TimeSpan.Zero && (!last || perf is not null))
                        await Task.Delay(wait, cancellationToken);
                    if (perf is not null)
                    {
                        foreach (var (_, profile) in perf.Cut())
                            Enqueue("cpu", profile);
                    }

                    if (last)
                        break;
                }
            }

            var lost = queued - uploader.Uploaded;
            if (lost > 0)
                await context.Error.WriteLineAsync($"hotpath: {lost} of {queued} profiles did not reach the collector (see the lines above)");
            return lost == 0 ? 0 : 1;
        }));
        return command;
    }

    /// <summary>The perf sampler when asked for and the kernel allows it; says at start which sampler CPU comes from, and why.</summary>
    private static async Task<PerfCpuSampler?> StartPerfAsync(string choice, ProfileKinds kinds, int target, int frequency, TimeSpan window, TimeSpan every, TextWriter output)
    {
        if (!kinds.HasFlag(ProfileKinds.Cpu))
            return null;
        if (choice == "eventpipe")
        {
            await output.WriteLineAsync($"CPU: EventPipe windows of {window.TotalSeconds:0.#} s every {every.TotalSeconds:0.#} s (--cpu-sampler eventpipe)");
            return null;
        }

        var perf = PerfCpuSampler.TryStart([target], frequency, out var refusal);
        if (perf is null)
        {
            if (choice == "perf")
                throw new ArgumentException($"--cpu-sampler perf: {refusal}");
            await output.WriteLineAsync($"CPU: perf events are not available ({refusal}); falling back to EventPipe windows of {window.TotalSeconds:0.#} s every {every.TotalSeconds:0.#} s");
            return null;
        }

        var named = PerfCpuSampler.TryEnablePerfMap(target, out var why);
        await output.WriteLineAsync($"CPU: perf events at {frequency} Hz on every CPU, continuous{(named ? "" : $"; managed frames stay addresses, as the target's perf map could not be turned on: {why}")}");
        return perf;
    }
}
