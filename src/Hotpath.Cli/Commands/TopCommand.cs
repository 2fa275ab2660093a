using System.CommandLine;
using System.Globalization;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Spectre.Console;

namespace Hotpath.Cli.Commands;

/// <summary>hotpath top: the top functions of the merged selection, like go tool pprof -top, without Go.</summary>
public static class TopCommand
{
    public static Command Create(CliContext context)
    {
        var selection = new SelectionOptions(context.Time);
        var count = new Option<int>("--nodes", "-n") { Description = "How many functions to show", DefaultValueFactory = _ => 20 };
        var sampleType = new Option<string?>("--sample-type") { Description = "Sample type to rank by (default: the profile's default, else its last)" };
        var folded = new Option<bool>("--folded") { Description = "Print folded stacks (root;...;leaf value) for flamegraph.pl and speedscope" };
        var raw = new Option<bool>("--raw") { Description = "Print values as plain integers in the profile's unit" };
        var sampleLabels = new Option<string[]>("--sample-label")
        {
            Description = "Only samples with this pprof sample label, key=value (e.g. type=System.Byte[]); repeat for more (values of one key are alternatives)",
            AllowMultipleArgumentsPerToken = false,
        };
        var groupBy = new Option<string?>("--group-by") { Description = "Group samples by a pprof sample label: its value becomes the root frame (key=value)" };
        var command = new Command("top", """
            Merge the selection and print its top functions: flat, flat%, sum%, cum, cum%.
            Example: hotpath top --service api --type cpu --since 1h -n 20
            """);
        selection.AddTo(command, merges: true);
        foreach (var option in (Option[])[count, sampleType, folded, raw, sampleLabels, groupBy])
            command.Options.Add(option);

        command.SetAction((parsed, cancellationToken) => context.RunAsync(async () =>
        {
            using var client = CliContext.Client(parsed);
            var bytes = await client.GetBytesAsync("/api/0/profiles/merge?" + selection.Query(parsed), cancellationToken);
            var merged = new ProfileDecoder().Decode(bytes);
            var index = TopTable.SampleTypeIndex(merged, parsed.GetValue(sampleType));
            var filters = (parsed.GetValue(sampleLabels) ?? []).Select(text => text.Split('=', 2) is [var key, var value] && key.Length > 0
                ? KeyValuePair.Create(key, value)
                : throw new ArgumentException($"--sample-label \"{text}\" is not key=value")).ToList();
            var profile = new SampleSelection(filters, parsed.GetValue(groupBy)).Apply(merged);

            if (parsed.GetValue(folded))
            {
                foreach (var line in TopTable.Folded(profile, index))
                    await context.Output.WriteLineAsync(line);
                return 0;
            }

            var top = TopTable.Build(profile, index);
            var plain = parsed.GetValue(raw);
            string Format(long v) => plain ? v.ToString(CultureInfo.InvariantCulture) : Units.Format(v, top.Unit);
            string Percent(long v) => top.Total == 0 ? "0%" : (100.0 * v / top.Total).ToString("0.00", CultureInfo.InvariantCulture) + "%";

            var shown = top.Rows.Take(Math.Max(1, parsed.GetValue(count))).ToList();
            var averaged = parsed.GetValue(selection.Aggregation) == "avg" && Aggregations.IsGauge(top.SampleType) ? ", averaged over time per instance" : "";
            context.Console.MarkupLineInterpolated(
                $"Type: {top.SampleType} ({top.Unit}){averaged}. Showing {shown.Count} of {top.Rows.Count} functions, {Percent(shown.Sum(r => r.Flat))} of {Format(top.Total)} total");
            // Plain columns, as pprof -top prints them: the function comes last and is never wrapped (a table
            // column breaks a long .NET name in the middle of a word).
            var lines = new List<string[]>(shown.Count + 1) { new[] { "flat", "flat%", "sum%", "cum", "cum%", "function" } };
            long sum = 0;
            foreach (var row in shown)
            {
                sum += row.Flat;
                lines.Add([Format(row.Flat), Percent(row.Flat), Percent(sum), Format(row.Cumulative), Percent(row.Cumulative), row.Function]);
            }

            var widths = Enumerable.Range(0, 5).Select(c => lines.Max(l => l[c].Length)).ToArray();
            foreach (var line in lines)
                await context.Output.WriteLineAsync(string.Join("  ", line.Take(5).Select((cell, c) => cell.PadLeft(widths[c]))) + "  " + line[5]);
            return 0;
        }));
        return command;
    }
}

/// <summary>Values in a readable unit, as pprof prints them (3.09s, 21.70MB).</summary>
public static class Units
{
    public static string Format(long value, string unit)
    {
        var v = (double)value;
        var (scaled, suffix) = unit switch
        {
            "nanoseconds" => Scale(v, [(1e9, "s"), (1e6, "ms"), (1e3, "us"), (1, "ns")]),
            "microseconds" => Scale(v, [(1e6, "s"), (1e3, "ms"), (1, "us")]),
            "milliseconds" => Scale(v, [(1e3, "s"), (1, "ms")]),
            "bytes" => Scale(v, [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1, "B")]),
            _ => (v, ""),
        };
        return suffix.Length == 0
            ? value.ToString(CultureInfo.InvariantCulture)
            : scaled.ToString(Math.Abs(scaled) >= 100 ? "0.#" : "0.##", CultureInfo.InvariantCulture) + suffix;
    }

    private static (double, string) Scale(double v, (double Factor, string Suffix)[] steps)
    {
        foreach (var (factor, suffix) in steps)
        {
            if (Math.Abs(v) >= factor)
                return (v / factor, suffix);
        }

        return (v, steps[^1].Suffix);
    }
}
