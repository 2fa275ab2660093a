using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Hotpath.Pprof;
using Microsoft.Extensions.FileSystemGlobbing;
using Spectre.Console;

namespace Hotpath.Cli.Commands;

/// <summary>hotpath import: upload existing pprof files (what profefe's pprof_import.sh does), in parallel.</summary>
public static class ImportCommand
{
    public static Command Create(CliContext context)
    {
        var files = new Argument<string[]>("files") { Description = "Files, folders or glob patterns (./profiles/**/*.pb.gz)", Arity = ArgumentArity.OneOrMore };
        var service = new Option<string>("--service", "-s") { Description = "Service the profiles belong to", Required = true };
        var type = SelectionOptions.TypeOption();
        type.Required = true;
        var labels = new Option<string[]>("--label", "-l") { Description = "Label key=value for every profile (repeatable)" };
        var instance = new Option<string?>("--instance-id") { Description = "Instance id stored with every profile" };
        var mtime = new Option<bool>("--mtime") { Description = "Profiles without a time of their own get the file's modification time (else: now)" };
        var skipExisting = new Option<bool>("--skip-existing") { Description = "Skip files whose exact bytes are already stored under the same service, type, labels and time: safe re-runs" };
        var parallel = new Option<int>("--parallel", "-p") { Description = "Uploads at once", DefaultValueFactory = _ => 4 };
        var command = new Command("import", """
            Upload existing pprof files to the collector.
            Example: hotpath import --service api --type cpu --label region=eu ./profiles/**/*.pb.gz
            """)
        {
            files, service, type, labels, instance, mtime, skipExisting, parallel,
        };

        command.SetAction((parsed, cancellationToken) => context.RunAsync(async () =>
        {
            var paths = Expand(parsed.GetValue(files)!, out var missing);
            var job = new ImportJob(parsed.GetValue(service)!, parsed.GetValue(type)!, SelectionOptions.LabelQuery(parsed.GetValue(labels)),
                parsed.GetValue(labels) ?? [], parsed.GetValue(instance), parsed.GetValue(mtime), parsed.GetValue(skipExisting));
            using var client = CliContext.Client(parsed);
            var failures = new ConcurrentBag<(string File, string Reason)>(missing.Select(m => (m, "no such file or folder")));
            var outcomes = new int[3]; // by ImportOutcome
            long bytes = 0;
            var clock = Stopwatch.StartNew();

            await context.Console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async progress =>
                {
                    var task = progress.AddTask("importing", maxValue: Math.Max(1, paths.Sum(p => new FileInfo(p).Length)));
                    var done = 0;
                    await Parallel.ForEachAsync(paths, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parsed.GetValue(parallel)), CancellationToken = cancellationToken },
                        async (path, ct) =>
                        {
                            var size = new FileInfo(path).Length;
                            try
                            {
                                var outcome = await job.UploadAsync(client, path, ct);
                                Interlocked.Increment(ref outcomes[(int)outcome]);
                                Interlocked.Add(ref bytes, size);
                            }
                            catch (Exception e) when (e is CollectorException or IOException or UnauthorizedAccessException)
                            {
                                failures.Add((path, e.Message));
                            }

                            task.Increment(size);
                            var n = Interlocked.Increment(ref done);
                            task.Description = $"{n}/{paths.Count} files, {n / Math.Max(0.001, clock.Elapsed.TotalSeconds):0.0} files/s";
                        });
                });

            var seconds = clock.Elapsed.TotalSeconds;
            context.Console.MarkupLineInterpolated(
                $"Imported {outcomes[(int)ImportOutcome.Imported]}, skipped {outcomes[(int)ImportOutcome.AlreadyStored]} already stored and {outcomes[(int)ImportOutcome.Empty]} without samples, failed {failures.Count} of {paths.Count + missing.Count} files in {seconds:0.0} s ({paths.Count / Math.Max(0.001, seconds):0.0} files/s, {bytes / 1e6:0.00} MB)");
            foreach (var (file, reason) in failures.OrderBy(f => f.File, StringComparer.Ordinal))
                await context.Error.WriteLineAsync($"failed: {file}: {reason}");
            return failures.IsEmpty ? 0 : 1;
        }));
        return command;
    }

    /// <summary>Files, folders (all files below) and glob patterns, each file once, in a stable order.</summary>
    internal static List<string> Expand(IEnumerable<string> patterns, out List<string> missing)
    {
        missing = [];
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var pattern in patterns)
        {
            if (pattern.IndexOfAny(['*', '?']) >= 0)
            {
                // The part before the first wildcard segment is the folder to search from.
                var segments = pattern.Replace('\\', '/').Split('/');
                var fixedCount = Array.FindIndex(segments, s => s.IndexOfAny(['*', '?']) >= 0);
                var root = fixedCount == 0 ? "." : string.Join('/', segments[..fixedCount]);
                if (root.Length == 0)
                    root = "/";
                // Matcher knows * and ** but not ?: match ? as * there, then keep the names the whole pattern fits.
                var relative = string.Join('/', segments[fixedCount..]);
                var matcher = new Matcher(StringComparison.Ordinal);
                matcher.AddInclude(relative.Replace('?', '*'));
                var exact = GlobRegex(relative);
                var matches = Directory.Exists(root)
                    ? matcher.Execute(new Microsoft.Extensions.FileSystemGlobbing.Abstractions.DirectoryInfoWrapper(new DirectoryInfo(root))).Files
                        .Where(f => exact.IsMatch(f.Path)).Select(f => Path.GetFullPath(Path.Combine(root, f.Path))).ToList()
                    : [];
                if (matches.Count == 0)
                    missing.Add(pattern);
                found.UnionWith(matches);
            }
            else if (Directory.Exists(pattern))
            {
                found.UnionWith(Directory.EnumerateFiles(pattern, "*", SearchOption.AllDirectories).Select(Path.GetFullPath));
            }
            else if (File.Exists(pattern))
            {
                found.Add(Path.GetFullPath(pattern));
            }
            else
            {
                missing.Add(pattern);
            }
        }

        return [.. found];
    }

    /// <summary>The glob as a regex over '/'-separated relative paths: ** any folders, * and ? within one name.</summary>
    private static System.Text.RegularExpressions.Regex GlobRegex(string glob)
    {
        var regex = new StringBuilder("^");
        for (var i = 0; i < glob.Length; i++)
        {
            if (glob[i] == '*' && i + 1 < glob.Length && glob[i + 1] == '*')
            {
                regex.Append(i + 2 < glob.Length && glob[i + 2] == '/' ? "(.*/)?" : ".*");
                i += i + 2 < glob.Length && glob[i + 2] == '/' ? 2 : 1;
            }
            else
            {
                regex.Append(glob[i] switch
                {
                    '*' => "[^/]*",
                    '?' => "[^/]",
                    var c => System.Text.RegularExpressions.Regex.Escape(c.ToString()),
                });
            }
        }

        return new System.Text.RegularExpressions.Regex(regex.Append('$').ToString(), System.Text.RegularExpressions.RegexOptions.CultureInvariant);
    }

    private enum ImportOutcome
    {
        Imported,
        AlreadyStored,
        Empty,
    }

    private sealed record ImportJob(string Service, string Type, string LabelQuery, string[] Labels, string? InstanceId, bool UseMtime, bool SkipExisting)
    {
        /// <summary>Uploads one file, unless it is already stored (asked to skip those) or has no samples.</summary>
        public async Task<ImportOutcome> UploadAsync(CollectorClient client, string path, CancellationToken cancellationToken)
        {
            var body = await File.ReadAllBytesAsync(path, cancellationToken);
            ProfileSummary? summary = null;
            if (Type != "trace")
            {
                try
                {
                    summary = new ProfileDecoder().Inspect(body);
                }
                catch (MalformedProfileException e) when (e.HasNoSamples)
                {
                    // profefe's agent writes one such profile a minute for a type with nothing to sample; the
                    // collector refuses them (there is nothing to merge), and they are no failure of the import.
                    return ImportOutcome.Empty;
                }
                catch (Exception e) when (e is MalformedProfileException or ProfileTooLargeException)
                {
                    // Upload anyway: the collector's refusal is the reason the user sees.
                }
            }

            var created = summary is { TimeNanos: not 0 and var nanos } ? UnixNanos.ToDateTimeOffset(nanos) : UseMtime ? File.GetLastWriteTimeUtc(path) : (DateTimeOffset?)null;
            if (SkipExisting && created is { } at && await AlreadyStoredAsync(client, body, at, cancellationToken))
                return ImportOutcome.AlreadyStored;

            var query = new StringBuilder($"service={Uri.EscapeDataString(Service)}&type={Type}");
            if (LabelQuery.Length > 0)
                query.Append("&labels=").Append(LabelQuery);
            if (!string.IsNullOrEmpty(InstanceId))
                query.Append("&instance_id=").Append(Uri.EscapeDataString(InstanceId));
            if (UseMtime)
                query.Append("&created_at=").Append(Uri.EscapeDataString(ProfileTime.Format(File.GetLastWriteTimeUtc(path))));
            await client.PostAsync(query.ToString(), body, cancellationToken);
            return ImportOutcome.Imported;
        }

        private async Task<bool> AlreadyStoredAsync(CollectorClient client, byte[] body, DateTimeOffset at, CancellationToken cancellationToken)
        {
            var second = at.AddTicks(-(at.UtcTicks % TimeSpan.TicksPerSecond));
            var query = $"/api/0/profiles?service={Uri.EscapeDataString(Service)}&type={Type}&from={Uri.EscapeDataString(ProfileTime.Format(second))}" +
                $"&to={Uri.EscapeDataString(ProfileTime.Format(second.AddTicks(TimeSpan.TicksPerSecond - 1)))}" +
                (LabelQuery.Length > 0 ? "&labels=" + LabelQuery : "");
            if (await client.GetJsonAsync(query, cancellationToken) is not { } candidates)
                return false;
            foreach (var candidate in candidates.EnumerateArray())
            {
                var stored = await client.GetBytesAsync("/api/0/profiles/" + candidate.GetProperty("id").GetString(), cancellationToken);
                if (stored.AsSpan().SequenceEqual(body))
                    return true;
            }

            return false;
        }
    }
}
