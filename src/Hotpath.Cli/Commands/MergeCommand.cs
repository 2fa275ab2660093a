using System.CommandLine;
using Spectre.Console;

namespace Hotpath.Cli.Commands;

/// <summary>hotpath merge and hotpath get: download a merged or a stored profile.</summary>
public static class MergeCommand
{
    public static Command Create(CliContext context)
    {
        var selection = new SelectionOptions(context.Time);
        var output = OutputOption();
        var command = new Command("merge", """
            Download one pprof merging every matching profile (go tool pprof reads it).
            Example: hotpath merge --service api --type cpu --since 24h -o api-cpu.pb.gz
            """);
        selection.AddTo(command, merges: true);
        command.Options.Add(output);
        command.SetAction((parsed, cancellationToken) => context.RunAsync(async () =>
        {
            using var client = CliContext.Client(parsed);
            var bytes = await client.GetBytesAsync("/api/0/profiles/merge?" + selection.Query(parsed), cancellationToken);
            return await SaveAsync(context, bytes, parsed.GetValue(output)!, cancellationToken);
        }));
        return command;
    }

    public static Command CreateGet(CliContext context)
    {
        var ids = new Argument<string[]>("id") { Description = "Profile id; several are merged", Arity = ArgumentArity.OneOrMore };
        var output = OutputOption();
        var command = new Command("get", """
            Download a stored profile exactly as it was received, or the merge of several.
            Example: hotpath get 06h21fbd6r3q9k1m -o profile.pb.gz
            """)
        {
            ids,
            output,
        };
        command.SetAction((parsed, cancellationToken) => context.RunAsync(async () =>
        {
            using var client = CliContext.Client(parsed);
            var path = "/api/0/profiles/" + string.Join("+", parsed.GetValue(ids)!.Select(Uri.EscapeDataString));
            var bytes = await client.GetBytesAsync(path, cancellationToken);
            return await SaveAsync(context, bytes, parsed.GetValue(output)!, cancellationToken);
        }));
        return command;
    }

    private static Option<string> OutputOption() => new("--output", "-o")
    {
        Description = "File to write (- for standard output)",
        Required = true,
    };

    private static async Task<int> SaveAsync(CliContext context, byte[] bytes, string path, CancellationToken cancellationToken)
    {
        if (path == "-")
        {
            await using var stdout = Console.OpenStandardOutput();
            await stdout.WriteAsync(bytes, cancellationToken);
            return 0;
        }

        await File.WriteAllBytesAsync(path, bytes, cancellationToken);
        context.Console.MarkupLineInterpolated($"Wrote {bytes.Length:N0} bytes to {path}");
        return 0;
    }
}
