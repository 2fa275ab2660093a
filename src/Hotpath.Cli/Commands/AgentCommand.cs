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
        var rounds = new Option<int>("--rounds") { Description = "Stop after this many profiles (0: until stopped)" };
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

            using var client = CliContext.Client(parsed);
            var target = parsed.GetValue(pid);
            var query = $"service={Uri.EscapeDataString(parsed.GetValue(service)!)}&instance_id={Uri.EscapeDataString(UploaderOptions.DefaultInstanceId(target))}";
            var given = parsed.GetValue(labels) ?? [];
            if (!given.Any(l => l.StartsWith(AppVersion.Label + "=", StringComparison.Ordinal)) && AppVersion.OfProcess(target) is { } version)
                given = [.. given, $"{AppVersion.Label}={version}"];
            if (SelectionOptions.LabelQuery(given) is { Length: > 0 } encoded)
                query += "&labels=" + encoded;
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
                    await context.Error.WriteLineAsync($"{DateTimeOffset.UtcNow:HH:mm:ss} no samples in this window; nothing stored");
                foreach (var (type, profile) in recorded)
                {
                    var meta = await client.PostAsync($"{query}&type={type}", ProfileEncoder.ToGzipBytes(profile), cancellationToken);
                    await context.Output.WriteLineAsync($"{DateTimeOffset.UtcNow:HH:mm:ss} stored {type} profile of process {target} ({profile.Sample.Count} stacks): {meta.GetProperty("id").GetString()}");
                }

                if (max != 0 && round == max)
                    break;
                var wait = every - (DateTimeOffset.UtcNow - started);
                if (wait > TimeSpan.Zero)
                    await Task.Delay(wait, cancellationToken);
            }

            return 0;
        }));
        return command;
    }
}
