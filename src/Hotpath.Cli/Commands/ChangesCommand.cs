using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Hotpath.Pprof;

namespace Hotpath.Cli.Commands;

/// <summary>
/// hotpath changes: what changed between a baseline and a target (two versions, two regions, this hour and the
/// same hour yesterday), the collector's <c>/api/0/changes</c>; exits 1 when a regression over the threshold is
/// found, so CI can gate a deploy on it, and 2 when it cannot tell.
/// </summary>
public static class ChangesCommand
{
    /// <summary>The exit code of a regression found.</summary>
    public const int Regressed = 1;

    /// <summary>The exit code when the comparison could not be made (a bad flag, an unreachable collector, too little data).</summary>
    public const int Failed = 2;

    public static Command Create(CliContext context)
    {
        var selection = new SelectionOptions(context.Time);
        var baseline = new Option<string?>("--baseline") { Description = "The baseline's label selector, e.g. {version=\"1.4\"} (default: the selection's)" };
        var target = new Option<string?>("--target") { Description = "The target's label selector, e.g. {version=\"1.5\"} (default: the selection's)" };
        var versions = new Option<string?>("--versions") { Description = "Compare the two newest values of this label in the window, the older as the baseline (the version before and after a deploy)" };
        var offset = new Option<string?>("--baseline-offset") { Description = "The baseline is the window this long before the target's (1d: the same hour yesterday)" };
        var threshold = new Option<double>("--threshold") { Description = "The least change of a function's share, in percentage points, that is a regression", DefaultValueFactory = _ => 1.0 };
        var confidence = new Option<double>("--confidence") { Description = "How sure a change must be, after the correction for the functions compared", DefaultValueFactory = _ => 0.99 };
        var count = new Option<int>("--nodes", "-n") { Description = "How many changed functions to show", DefaultValueFactory = _ => 20 };
        var sampleType = new Option<string?>("--sample-type") { Description = "Sample type to compare (default: the profile's default, else its last)" };
        var command = new Command("changes", """
            What changed between a baseline and a target: the functions whose share of the profile moved for sure, largest first.
            Exits 1 when a regression over --threshold is found (a deploy gate), 0 when none, 2 when it cannot tell.
            Example: hotpath changes -s api -t cpu --since 3h --baseline '{version="1.4"}' --target '{version="1.5"}'
                     hotpath changes -s api -t cpu --since 6h --versions version
                     hotpath changes -s api -t cpu --since 1h --baseline-offset 1d
            """);
        selection.AddTo(command, merges: false);
        command.Options.Remove(selection.Limit);
        foreach (var option in (Option[])[baseline, target, versions, offset, threshold, confidence, count, sampleType])
            command.Options.Add(option);

        command.SetAction((parsed, cancellationToken) => context.RunAsync(async () =>
        {
            var window = selection.Window(parsed);
            var (before, after) = (parsed.GetValue(baseline), parsed.GetValue(target));
            var shift = parsed.GetValue(offset) is { } text
                ? ProfileTime.TryParseDuration(text, out var span) ? span : throw new ArgumentException($"--baseline-offset \"{text}\" is not a duration (1h, 1d, 7d)")
                : TimeSpan.Zero;
            var key = parsed.GetValue(versions);
            if (before is null && after is null && shift == TimeSpan.Zero && key is null)
                throw new ArgumentException("the baseline and the target are the same selection: give --baseline and --target selectors, --versions, or a --baseline-offset");

            var query = new StringBuilder("/api/0/changes?").Append(selection.Query(parsed, (window.From - shift, window.To - shift)));
            if (before is not null)
                query.Append("&query=").Append(Uri.EscapeDataString(before));
            if (after is not null)
                query.Append("&cmp_query=").Append(Uri.EscapeDataString(after));
            query.Append("&cmp_from=").Append(Uri.EscapeDataString(ProfileTime.Format(window.From)))
                .Append("&cmp_to=").Append(Uri.EscapeDataString(ProfileTime.Format(window.To)))
                .Append(CultureInfo.InvariantCulture, $"&threshold={parsed.GetValue(threshold)}&confidence={parsed.GetValue(confidence)}&top={Math.Max(1, parsed.GetValue(count))}");
            if (key is not null)
                query.Append("&versions=").Append(Uri.EscapeDataString(key));
            if (parsed.GetValue(sampleType) is { Length: > 0 } type)
                query.Append("&sample_type=").Append(Uri.EscapeDataString(type));

            using var client = CliContext.Client(parsed);
            var report = await client.GetJsonAsync(query.ToString(), cancellationToken)
                ?? throw new CollectorException("nothing found: no profiles match the selection");
            await WriteAsync(context.Output, report);
            return report.GetProperty("regressions").GetInt32() > 0 ? Regressed : 0;
        }, Failed));
        return command;
    }

    private static async Task WriteAsync(TextWriter output, JsonElement report)
    {
        var unit = report.GetProperty("unit").GetString() ?? "";
        var (baseline, target) = (report.GetProperty("baseline"), report.GetProperty("target"));
        var threshold = report.GetProperty("threshold").GetDouble();
        var confidence = report.GetProperty("confidence").GetDouble();
        static string Labels(JsonElement side) => side.GetProperty("labels").GetString() is { Length: > 0 } labels ? $" ({labels})" : "";
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"{report.GetProperty("sample_type").GetString()} ({unit}): baseline{Labels(baseline)} {baseline.GetProperty("profiles").GetInt32()} profiles in {baseline.GetProperty("intervals").GetInt32()} intervals, target{Labels(target)} {target.GetProperty("profiles").GetInt32()} in {target.GetProperty("intervals").GetInt32()}, intervals of {report.GetProperty("interval_seconds").GetDouble():0}s; {report.GetProperty("compared").GetInt32()} functions compared"));
        var lines = new List<string[]> { new[] { "change", "self", "total", "per second", "p", "function" } };
        foreach (var change in report.GetProperty("changes").EnumerateArray())
        {
            var (self, total) = (change.GetProperty("self"), change.GetProperty("total"));
            // The larger move of the two says how much the function's value per second changed.
            var perSecond = Math.Abs(self.GetProperty("points").GetDouble()) >= Math.Abs(total.GetProperty("points").GetDouble()) ? self : total;
            var p = Math.Min(self.GetProperty("p_value").GetDouble(), total.GetProperty("p_value").GetDouble());
            lines.Add([
                change.GetProperty("change").GetString()!, Points(self), Points(total),
                Signed(Units.Format((long)Math.Round(perSecond.GetProperty("per_second").GetDouble()), unit), perSecond.GetProperty("per_second").GetDouble()) + "/s",
                p.ToString("0.##e-0", CultureInfo.InvariantCulture), change.GetProperty("function").GetString()!,
            ]);
        }

        if (lines.Count > 1)
        {
            var widths = Enumerable.Range(0, 5).Select(c => lines.Max(l => l[c].Length)).ToArray();
            foreach (var line in lines)
                await output.WriteLineAsync(string.Join("  ", line.Take(5).Select((cell, c) => c == 0 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))) + "  " + line[5]);
        }

        var regressions = report.GetProperty("regressions").GetInt32();
        var criteria = string.Create(CultureInfo.InvariantCulture, $"over {threshold}pp at {confidence * 100:0.##}% confidence.");
        await output.WriteLineAsync(regressions switch
        {
            0 => "No regression " + criteria,
            1 => "1 regression " + criteria,
            _ => $"{regressions} regressions {criteria}",
        });
    }

    private static string Points(JsonElement share)
    {
        var points = share.GetProperty("points").GetDouble();
        return points.ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture) + "pp";
    }

    private static string Signed(string formatted, double value) => value > 0 ? "+" + formatted : formatted;
}
