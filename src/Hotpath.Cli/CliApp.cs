using System.CommandLine;
using Hotpath.Cli.Commands;
using Spectre.Console;

namespace Hotpath.Cli;

/// <summary>The hotpath command line: parsing, shared options, and how failures become exit codes.</summary>
public static class CliApp
{
    public const string CollectorVariable = "HOTPATH_COLLECTOR";
    public const string TokenVariable = "HOTPATH_TOKEN";
    public const string TenantVariable = "HOTPATH_TENANT";

    /// <summary>--collector, on every command.</summary>
    public static readonly Option<string> Collector = new("--collector", "-c")
    {
        Description = $"Collector base URL [env {CollectorVariable}]",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(CollectorVariable) ?? "http://localhost:10100",
        Recursive = true,
    };

    /// <summary>--token, on every command.</summary>
    public static readonly Option<string?> Token = new("--token")
    {
        Description = $"Bearer token, when the collector requires one [env {TokenVariable}]",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(TokenVariable),
        Recursive = true,
    };

    /// <summary>--tenant, on every command.</summary>
    public static readonly Option<string?> Tenant = new("--tenant")
    {
        Description = $"The collector's tenant to act for, sent as X-Scope-OrgID; none: the default tenant [env {TenantVariable}]",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(TenantVariable),
        Recursive = true,
    };

    /// <param name="time">The clock relative windows (--since 1h) count from; null: the system's.</param>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default, TimeProvider? time = null)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
            Interactive = InteractionSupport.Detect,
        });
        if (!console.Profile.Capabilities.Interactive)
            console.Profile.Width = 160; // redirected: do not wrap summaries at 80 columns
        var context = new CliContext(console, output, error, time ?? TimeProvider.System);

        var root = new RootCommand("hotpath: continuous profiling from the terminal. Talks to a Hotpath collector (profefe API v0).")
        {
            ImportCommand.Create(context),
            FindCommand.Create(context),
            MergeCommand.Create(context),
            MergeCommand.CreateGet(context),
            TopCommand.Create(context),
            ChangesCommand.Create(context),
            ScrapeCommand.Create(context),
            AgentCommand.Create(context),
        };
        root.Options.Add(Collector);
        root.Options.Add(Token);
        root.Options.Add(Tenant);

        var parsed = root.Parse(args);
        return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken);
    }
}

/// <summary>Where commands write, and the one way they report failures.</summary>
public sealed class CliContext(IAnsiConsole console, TextWriter output, TextWriter error, TimeProvider time)
{
    public TimeProvider Time { get; } = time;

    public IAnsiConsole Console { get; } = console;

    /// <summary>Plain output (JSON, folded stacks), never decorated. Synchronized: scrapes of several targets and types write at once.</summary>
    public TextWriter Output { get; } = TextWriter.Synchronized(output);

    public TextWriter Error { get; } = TextWriter.Synchronized(error);

    public static CollectorClient Client(ParseResult parsed) =>
        new(new Uri(parsed.GetValue(CliApp.Collector)!.TrimEnd('/') + "/"), parsed.GetValue(CliApp.Token), parsed.GetValue(CliApp.Tenant));

    /// <summary>Runs a command body; a user-facing failure prints one line and exits 1, not a stack trace.</summary>
    /// <param name="failure">The exit code of an error (1 unless the command gives 1 a meaning of its own).</param>
    public async Task<int> RunAsync(Func<Task<int>> body, int failure = 1)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (e is CollectorException or ArgumentException or IOException or UnauthorizedAccessException or Hotpath.Pprof.MalformedProfileException)
        {
            await Error.WriteLineAsync("hotpath: " + e.Message);
            return failure;
        }
    }
}
