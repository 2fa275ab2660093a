using System.CommandLine;
using System.Text.Json;
using Spectre.Console;

namespace Hotpath.Cli.Commands;

/// <summary>hotpath find: the metadata of matching profiles, as a table or the API's JSON.</summary>
public static class FindCommand
{
    public static Command Create(CliContext context)
    {
        var selection = new SelectionOptions(context.Time);
        var json = new Option<bool>("--json") { Description = "Print the API's JSON reply instead of a table" };
        var command = new Command("find", """
            List stored profiles that match, oldest first.
            Example: hotpath find --service api --type cpu --since 1h --label version=1.4
            """);
        selection.AddTo(command, merges: false);
        command.Options.Add(json);

        command.SetAction((parsed, cancellationToken) => context.RunAsync(async () =>
        {
            using var client = CliContext.Client(parsed);
            var window = selection.Window(parsed);
            var found = await client.GetJsonAsync("/api/0/profiles?" + selection.Query(parsed, window), cancellationToken);
            if (parsed.GetValue(json))
            {
                await context.Output.WriteLineAsync(JsonSerializer.Serialize(new { code = 200, body = found }, CliJson.Indented));
                return 0;
            }

            if (found is not { } profiles)
            {
                context.Console.MarkupLineInterpolated(
                    $"[yellow]No profiles match[/] in {window.From:yyyy-MM-dd HH:mm:ss} .. {window.To:yyyy-MM-dd HH:mm:ss} UTC ({Span(window.To - window.From)}). A longer window: --since 24h, --since 7d, or --from/--to.");
                return 0;
            }

            var table = new Table().AddColumns("id", "type", "created_at", "instance_id", "labels");
            foreach (var p in profiles.EnumerateArray())
            {
                var labels = p.TryGetProperty("labels", out var l)
                    ? string.Join(", ", l.EnumerateArray().Select(x => x.GetProperty("key").GetString() + "=" + x.GetProperty("value").GetString()))
                    : "";
                table.AddRow(
                    Markup.Escape(p.GetProperty("id").GetString() ?? ""),
                    Markup.Escape(p.GetProperty("type").GetString() ?? ""),
                    Markup.Escape(p.GetProperty("created_at").GetString() ?? ""),
                    Markup.Escape(p.TryGetProperty("instance_id", out var instance) ? instance.GetString() ?? "" : ""),
                    Markup.Escape(labels));
            }

            context.Console.Write(table);
            context.Console.MarkupLine($"{profiles.GetArrayLength()} profiles");
            return 0;
        }));
        return command;
    }

    private static string Span(TimeSpan span) =>
        span.TotalDays >= 1 ? $"{span.TotalDays:0.#} days" : span.TotalHours >= 1 ? $"{span.TotalHours:0.#} hours" : $"{span.TotalMinutes:0.#} minutes";
}

internal static class CliJson
{
    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
}
