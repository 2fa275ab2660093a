using System.Text.RegularExpressions;
using Hotpath.Testing;

namespace Hotpath.EndToEnd.Tests;

/// <summary>The README's quick start, pasted into bash as it stands, against a real collector and a real Go service.</summary>
[Trait(TestCategory.Trait, TestCategory.MachineClock)]
public sealed partial class QuickStartTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hotpath-quickstart-").FullName;

    [Fact]
    public async Task The_readmes_quick_start_finds_and_merges_the_profile_it_posted()
    {
        await using var collector = await CollectorInstance.StartAsync();
        await using var go = await GoPprofServer.StartAsync();
        // Only the two addresses change: the block is otherwise run exactly as the README shows it.
        var script = QuickStartBlock()
            .Replace("localhost:10100", collector.BaseAddress.Authority, StringComparison.Ordinal)
            .Replace("localhost:6060", go.BaseAddress.Authority, StringComparison.Ordinal);

        // PPROF_TMPDIR: where go tool pprof keeps what it fetched.
        var bash = await ToolRun.RunAsync("bash", ["-e", "-c", script], _directory, new Dictionary<string, string> { ["PPROF_TMPDIR"] = _directory });
        var printed = bash.Output;
        var log = printed + bash.Error;

        Assert.True(bash.ExitCode == 0, log);
        var id = StoredId().Match(printed);
        Assert.True(id.Success, log);
        // Posted once, then found by both finds.
        Assert.Equal(3, Regex.Matches(printed, Regex.Escape($"\"id\":\"{id.Groups[1].Value}\"")).Count);
        Assert.Contains("Type: cpu", printed);
        Assert.Contains("Showing nodes accounting for", printed);
    }

    private static string QuickStartBlock()
    {
        var readme = File.ReadAllText(Path.Combine(TestData.ProjectRoot, "README.md"));
        var section = readme[readme.IndexOf("## Quick start", StringComparison.Ordinal)..];
        var open = section.IndexOf("```sh\n", StringComparison.Ordinal) + "```sh\n".Length;
        return section[open..section.IndexOf("\n```", open, StringComparison.Ordinal)];
    }

    [GeneratedRegex("\"id\":\"([^\"]+)\"")]
    private static partial Regex StoredId();

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
