using Hotpath.Testing;

namespace Hotpath.Cli.Tests;

/// <summary>hotpath changes as a deploy gate, against a collector holding a planted regression from version 1.4 to 1.5.</summary>
public sealed class ChangesCommandTests(PlantedFleet fleet) : IClassFixture<PlantedFleet>
{
    private string[] Window(DateTimeOffset from) => ["-s", fleet.Service, "-t", "cpu", "--from", ProfileBytes.Format(from), "--to", ProfileBytes.Format(fleet.End)];

    [Fact]
    public async Task A_regression_from_one_version_to_the_next_is_printed_first_and_fails_the_gate()
    {
        var result = await CliRunner.RunAsync(fleet.Collector, ["changes", .. Window(fleet.Start), "--baseline", "{version=\"1.4\"}", "--target", "{version=\"1.5\"}"]);

        Assert.Equal(1, result.ExitCode);
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("cpu (nanoseconds): baseline (version=1.4) 300 profiles in 30 intervals, target (version=1.5) 300 in 30", lines[0]);
        Assert.StartsWith("change", lines[1]);
        Assert.StartsWith("regression", lines[2]);
        Assert.EndsWith(fleet.Scenario.Leaf, lines[2].TrimEnd());
        Assert.Matches(@"regressions? over 1pp at 99% confidence\.", lines[^1]);
    }

    [Fact]
    public async Task The_same_version_an_offset_earlier_passes_the_gate()
    {
        var half = fleet.Start.AddMinutes(PlantedFleet.Minutes / 2);

        var result = await CliRunner.RunAsync(fleet.Collector,
            ["changes", .. Window(half), "--baseline", "{version=\"1.4\"}", "--target", "{version=\"1.4\"}", "--baseline-offset", "15m"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("baseline (version=1.4) 150 profiles in 15 intervals, target (version=1.4) 150 in 15", result.Output);
        Assert.EndsWith("No regression over 1pp at 99% confidence.", result.Output.TrimEnd());
    }

    [Fact]
    public async Task The_version_before_and_after_a_deploy_needs_no_selectors()
    {
        var result = await CliRunner.RunAsync(fleet.Collector, ["changes", .. Window(fleet.Start), "--versions", "version"]);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("cpu (nanoseconds): baseline (version=1.4) 300 profiles in 30 intervals, target (version=1.5) 300 in 30", result.Output);
        Assert.Contains(fleet.Scenario.Leaf, result.Output.Split('\n')[2]);
    }

    [Fact]
    public async Task A_higher_threshold_passes_what_a_lower_one_fails()
    {
        var result = await CliRunner.RunAsync(fleet.Collector,
            ["changes", .. Window(fleet.Start), "--baseline", "{version=\"1.4\"}", "--target", "{version=\"1.5\"}", "--threshold", "20"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("No regression over 20pp", result.Output);
    }

    [Fact]
    public async Task A_comparison_it_cannot_make_exits_2_and_says_why()
    {
        var same = await CliRunner.RunAsync(fleet.Collector, ["changes", .. Window(fleet.Start)]);
        var tooShort = await CliRunner.RunAsync(fleet.Collector,
            ["changes", "-s", fleet.Service, "-t", "cpu", "--from", ProfileBytes.Format(fleet.Start), "--to", ProfileBytes.Format(fleet.Start.AddSeconds(30)), "--baseline-offset", "1m"]);

        Assert.Equal(2, same.ExitCode);
        Assert.Contains("the baseline and the target are the same selection", same.Error);
        Assert.Equal(2, tooShort.ExitCode);
        Assert.Contains("a comparison needs two on each side", tooShort.Error);
    }
}
