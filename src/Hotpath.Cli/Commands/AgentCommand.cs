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
        var pid = new Option<int?>("--pid", "-p") { Description = "Process id of the .NET process to profile" };
        var all = new Option<bool>("--all") { Description = "Profile every .NET process of the host (found by their diagnostic ports), each as its own service (--service-from), labelled pid, process and host" };
        var service = new Option<string?>("--service", "-s") { Description = "Service name to store the profiles under (with --pid)" };
        var serviceFrom = new Option<string>("--service-from")
        {
            Description = "With --all, where each process's service comes from: assembly (its entry assembly's name), process (its process name) or env:NAME (its environment variable NAME, else its assembly)",
            DefaultValueFactory = _ => "assembly",
        };
        var labels = new Option<string[]>("--label", "-l") { Description = "Label key=value for every profile (repeatable); version defaults to the target's entry assembly version" };
        var types = new Option<string>("--types", "-t") { Description = "Profiles to record: cpu, heap, mutex, exceptions (stored as other), wall (every thread, running or waiting), block (blocking waits); comma-separated", DefaultValueFactory = _ => "cpu,heap,mutex,exceptions" };
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
            Profile running .NET processes from outside and push cpu, heap, mutex and exception profiles to the collector:
            CPU through perf events where the kernel allows it (else EventPipe windows), the rest through EventPipe windows.
            Example: hotpath agent --pid 4242 --service checkout --collector http://localhost:10100
                     hotpath agent --all --service-from env:SERVICE_NAME
            """)
        {
            pid, all, service, serviceFrom, labels, types, window, interval, rounds, sampler, frequency,
        };

        command.SetAction((parsed, cancellationToken) => context.RunAsync(async () =>
        {
            if (!ProfileKindNames.TryParse(parsed.GetValue(types)!, out var kinds, out var unknown))
                throw new ArgumentException($"--types: unknown profile type '{unknown}' (cpu, heap, mutex, exceptions, wall)");
            if (!ProfileTime.TryParseDuration(parsed.GetValue(window)!, out var recording) || recording <= TimeSpan.Zero)
                throw new ArgumentException("--window is not a duration (10s, 1m)");
            if (!ProfileTime.TryParseDuration(parsed.GetValue(interval)!, out var every) || every < recording)
                throw new ArgumentException("--interval must be a duration no shorter than --window");
            var single = parsed.GetValue(pid);
            var everyProcess = parsed.GetValue(all);
            if (single is null == !everyProcess)
                throw new ArgumentException("give either --pid N (with --service) or --all");
            if (single is not null && string.IsNullOrWhiteSpace(parsed.GetValue(service)))
                throw new ArgumentException("--pid needs --service: the name to store its profiles under");
            var naming = ServiceRule.Parse(parsed.GetValue(serviceFrom)!);

            var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (key, value) in SelectionOptions.ParseLabels(parsed.GetValue(labels)))
                pairs[key] = value; // the last --label of a key wins

            var output = TextWriter.Synchronized(context.Output);
            var errors = TextWriter.Synchronized(context.Error);
            var collector = new Uri(parsed.GetValue(CliApp.Collector)!.TrimEnd('/') + "/");
            using var perf = await StartPerfAsync(parsed.GetValue(sampler)!, kinds, parsed.GetValue(frequency), recording, every, output);
            // With perf events, the windows record the other kinds only.
            var windowKinds = perf is null ? kinds : kinds & ~ProfileKinds.Cpu;
            var targets = new Dictionary<int, Target>();
            var perfMapsTurnedOn = new HashSet<int>(); // released at the end: a perf map on before is left on
            var queued = 0L;
            var uploaded = 0L;

            Target Add(int target, string name, IReadOnlyDictionary<string, string> targetLabels)
            {
                // An uploader per process: a collector that is away for a while costs retries, not the attach.
                var uploader = new ProfileUploader(new UploaderOptions
                {
                    Collector = collector,
                    Service = name,
                    InstanceId = UploaderOptions.DefaultInstanceId(target),
                    Labels = AppVersion.AddTo(targetLabels, AppVersion.OfProcess(target)),
                    Token = parsed.GetValue(CliApp.Token),
                    Tenant = parsed.GetValue(CliApp.Tenant),
                    DrainTimeout = TimeSpan.FromSeconds(30),
                    Stored = (type, id) => output.WriteLine($"{DateTimeOffset.UtcNow:HH:mm:ss} stored {type} profile of process {target}: {id}"),
                }, new CliLogger<ProfileUploader>(errors));
                if (perf is not null)
                {
                    perf.Track(target);
                    if (PerfCpuSampler.IsPerfMapOn(target))
                        output.WriteLine($"process {target}: its perf map is on already and is left on");
                    else if (PerfCpuSampler.TryEnablePerfMap(target, out var why))
                        perfMapsTurnedOn.Add(target);
                    else
                        output.WriteLine($"process {target}: managed frames stay addresses, as its perf map could not be turned on: {why}");
                }

                return targets[target] = new Target(target, name, uploader);
            }

            async Task RemoveAsync(Target target)
            {
                perf?.Untrack(target.Pid);
                if (perfMapsTurnedOn.Remove(target.Pid))
                    PerfCpuSampler.ReleasePerfMap(target.Pid);
                targets.Remove(target.Pid);
                await target.Uploader.DisposeAsync();
                uploaded += target.Uploader.Uploaded;
            }

            void Enqueue(Target target, ProfileType type, Pprof.Proto.Profile profile)
            {
                target.Uploader.Enqueue(type, ProfileEncoder.ToGzipBytes(profile));
                Interlocked.Increment(ref queued);
                output.WriteLine($"{DateTimeOffset.UtcNow:HH:mm:ss} recorded {type.ToWire()} profile of process {target.Pid} ({profile.Sample.Count} stacks)");
            }

            if (single is { } only)
                Add(only, parsed.GetValue(service)!, pairs);
            try
            {
                var max = parsed.GetValue(rounds);
                for (var round = 1; max == 0 || round <= max; round++)
                {
                    var started = DateTimeOffset.UtcNow;
                    if (everyProcess)
                    {
                        var found = DotnetProcesses();
                        foreach (var gone in targets.Values.Where(t => !found.Contains(t.Pid)).ToList())
                        {
                            output.WriteLine($"{DateTimeOffset.UtcNow:HH:mm:ss} process {gone.Pid} ({gone.Service}) is gone");
                            await RemoveAsync(gone);
                        }

                        foreach (var target in found.Where(p => !targets.ContainsKey(p)))
                        {
                            var process = ProcessName(target);
                            var name = naming.ServiceOf(target, process);
                            Add(target, name, new Dictionary<string, string>(pairs) { ["pid"] = target.ToString(System.Globalization.CultureInfo.InvariantCulture), ["process"] = process, ["host"] = Environment.MachineName });
                            output.WriteLine($"{DateTimeOffset.UtcNow:HH:mm:ss} profiling process {target} ({process}) as service {name}");
                        }
                    }

                    if (windowKinds != ProfileKinds.None)
                    {
                        await Task.WhenAll(targets.Values.ToList().Select(async target =>
                        {
                            IReadOnlyList<RecordedProfile> recorded;
                            try
                            {
                                recorded = await ProfileSession.RecordAsync(target.Pid, windowKinds, recording, cancellationToken);
                            }
                            catch (Exception e) when (e is Microsoft.Diagnostics.NETCore.Client.ServerNotAvailableException or ArgumentException && everyProcess)
                            {
                                output.WriteLine($"{DateTimeOffset.UtcNow:HH:mm:ss} process {target.Pid}: no window this round ({e.Message})");
                                return;
                            }
                            catch (Exception e) when (e is Microsoft.Diagnostics.NETCore.Client.ServerNotAvailableException or ArgumentException)
                            {
                                throw new ArgumentException($"cannot attach to process {target.Pid}: {e.Message} (is it a .NET process of this user, with diagnostics enabled?)");
                            }

                            if (recorded.Count == 0)
                                output.WriteLine($"{DateTimeOffset.UtcNow:HH:mm:ss} no samples in the window of process {target.Pid}; nothing stored");
                            foreach (var (type, profile) in recorded)
                                Enqueue(target, type, profile);
                        }));
                    }

                    // The perf profile covers the whole interval: it is cut at its end, the last round's too.
                    var last = max != 0 && round == max;
                    var wait = every - (DateTimeOffset.UtcNow - started);
                    if (wait > TimeSpan.Zero && (!last || perf is not null))
                        await Task.Delay(wait, cancellationToken);
                    if (perf is not null)
                    {
                        foreach (var (target, profile) in perf.Cut())
                        {
                            if (targets.TryGetValue(target, out var known))
                                Enqueue(known, ProfileType.Cpu, profile);
                        }
                    }

                    if (last)
                        break;
                }
            }
            finally
            {
                foreach (var target in targets.Values.ToList())
                    await RemoveAsync(target);
            }

            var lost = queued - uploaded;
            if (lost > 0)
                await context.Error.WriteLineAsync($"hotpath: {lost} of {queued} profiles did not reach the collector (see the lines above)");
            return lost == 0 ? 0 : 1;
        }));
        return command;
    }

    private sealed record Target(int Pid, string Service, ProfileUploader Uploader);

    /// <summary>The .NET processes of the host that publish a diagnostic port, but this one.</summary>
    private static HashSet<int> DotnetProcesses() =>
        [.. Microsoft.Diagnostics.NETCore.Client.DiagnosticsClient.GetPublishedProcesses().Where(p => p != Environment.ProcessId && Directory.Exists($"/proc/{p}"))];

    private static string ProcessName(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "unknown";
        }
    }

    /// <summary>The perf sampler when asked for and the kernel allows it; says at start which sampler CPU comes from, and why.</summary>
    private static async Task<PerfCpuSampler?> StartPerfAsync(string choice, ProfileKinds kinds, int frequency, TimeSpan window, TimeSpan every, TextWriter output)
    {
        if (!kinds.HasFlag(ProfileKinds.Cpu))
            return null;
        if (choice == "eventpipe")
        {
            await output.WriteLineAsync($"CPU: EventPipe windows of {window.TotalSeconds:0.#} s every {every.TotalSeconds:0.#} s (--cpu-sampler eventpipe)");
            return null;
        }

        var perf = PerfCpuSampler.TryStart([], frequency, out var refusal);
        if (perf is null)
        {
            if (choice == "perf")
                throw new ArgumentException($"--cpu-sampler perf: {refusal}");
            await output.WriteLineAsync($"CPU: perf events are not available ({refusal}); falling back to EventPipe windows of {window.TotalSeconds:0.#} s every {every.TotalSeconds:0.#} s");
            return null;
        }

        await output.WriteLineAsync($"CPU: perf events at {frequency} Hz on every CPU, continuous");
        return perf;
    }

    /// <summary>Where --all takes each process's service name from.</summary>
    private sealed record ServiceRule(string Kind, string Variable)
    {
        public static ServiceRule Parse(string text) => text switch
        {
            "assembly" or "process" => new ServiceRule(text, ""),
            _ when text.StartsWith("env:", StringComparison.Ordinal) && text.Length > 4 => new ServiceRule("env", text[4..]),
            _ => throw new ArgumentException($"--service-from \"{text}\": assembly, process or env:NAME"),
        };

        public string ServiceOf(int pid, string process)
        {
            if (Kind == "env" && Environment(pid, Variable) is { Length: > 0 } named)
                return named;
            if (Kind == "process")
                return process;
            return AppVersion.EntryAssembly(pid) is { } assembly ? Path.GetFileNameWithoutExtension(assembly) : process;
        }

        private static string? Environment(int pid, string name)
        {
            try
            {
                var prefix = name + "=";
                return File.ReadAllText($"/proc/{pid}/environ").Split('\0').FirstOrDefault(e => e.StartsWith(prefix, StringComparison.Ordinal))?[prefix.Length..];
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null;
            }
        }
    }
}
