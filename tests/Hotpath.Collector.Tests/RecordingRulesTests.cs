using System.Globalization;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Hotpath.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Hotpath.Collector.Tests;

/// <summary>Recording rules (Recording:Rules) on a real collector's /metrics, following a planted step change on the collector's own clock.</summary>
public sealed class RecordingRulesTests
{
    private const int Instances = 5;
    private const int Samples = 1000;

    private static readonly ChangeScenario Scenario = new(TestData.Decode("cpu_2.pb.gz"));

    [Fact]
    public async Task A_function_s_share_follows_a_step_change_within_two_minutes_of_it()
    {
        // Minutes 0 and 1 as drawn, minutes 2 and 3 with twenty points more in the leaf: the step starts at minute 2.
        var start = new DateTimeOffset(TestClock.UtcNow.UtcDateTime.Date, TimeSpan.Zero).AddHours(TestClock.UtcNow.Hour - 1);
        var clock = new FakeTimeProvider(start.AddSeconds(5));
        var service = CollectorInstance.NewServiceName("recorded");
        await using var collector = await CollectorInstance.StartAsync(clock,
            "--Recording:Rules:0:Name=leaf_self", $"--Recording:Rules:0:Service={service}", "--Recording:Rules:0:Type=cpu",
            $"--Recording:Rules:0:Function={Regex.Escape(Scenario.Leaf)}", "--Recording:Rules:0:Self=true",
            "--Recording:Rules:1:Name=whole_cpu", $"--Recording:Rules:1:Service={service}", "--Recording:Rules:1:Type=cpu");
        var random = new Random(60);
        for (var minute = 0; minute < 4; minute++)
        {
            for (var instance = 0; instance < Instances; instance++)
            {
                var at = start.AddMinutes(minute).AddSeconds(10 + instance);
                var profile = Scenario.Draw(random, Samples, (at.UtcTicks - DateTime.UnixEpoch.Ticks) * 100, minute >= 2 ? Scenario.Leaf : null, 20);
                using var written = await collector.PostAsync($"service={service}&type=cpu&instance_id=i{instance}", profile.ToByteArray());
                Assert.Equal(System.Net.HttpStatusCode.OK, written.StatusCode);
            }
        }

        clock.SetUtcNow(start.AddMinutes(2).AddSeconds(31)); // minute 1 ended 31 s ago: its profiles are in
        var before = await ScrapeAsync(collector);
        clock.SetUtcNow(start.AddMinutes(3).AddSeconds(31)); // and now minute 2, the step's first
        var after = await ScrapeAsync(collector);

        Assert.Equal(start.AddMinutes(1).ToUnixTimeSeconds(), before[("hotpath_recorded_minute_seconds", "leaf_self")]);
        Assert.Equal(start.AddMinutes(2).ToUnixTimeSeconds(), after[("hotpath_recorded_minute_seconds", "leaf_self")]);
        Assert.Equal(Instances, before[("hotpath_recorded_profiles", "leaf_self")]);
        Assert.InRange(before[("hotpath_recorded_share", "leaf_self")], 0.02, 0.1);
        Assert.InRange(after[("hotpath_recorded_share", "leaf_self")] - before[("hotpath_recorded_share", "leaf_self")], 0.17, 0.23);
        // The whole profile: every sample drawn, at the profile's period each.
        var period = TestData.Decode("cpu_2.pb.gz").Period;
        Assert.Equal(Instances * Samples * period, after[("hotpath_recorded_value", "whole_cpu")]);
        Assert.Equal(1, after[("hotpath_recorded_share", "whole_cpu")]);
        Assert.Equal(after[("hotpath_recorded_share", "leaf_self")] * Instances * Samples * period, after[("hotpath_recorded_value", "leaf_self")], 1.0);
    }

    [Fact]
    public async Task A_rule_that_could_never_be_measured_stops_the_collector_at_start_saying_which()
    {
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => CollectorInstance.StartAsync(
            "--Recording:Rules:0:Name=bad name", "--Recording:Rules:0:Service=s", "--Recording:Rules:0:Type=cpu",
            "--Recording:Rules:1:Name=typo", "--Recording:Rules:1:Service=s", "--Recording:Rules:1:Type=cpuu", "--Recording:Rules:1:Function=(unclosed"));

        Assert.Contains("Recording:Rules:0:Name \"bad name\" is not letters, digits and underscores", failure.Message);
        Assert.Contains("Recording:Rules:1:Type \"cpuu\" is not a type", failure.Message);
        Assert.Contains("Recording:Rules:1:", failure.Message);
        Assert.Contains("(unclosed", failure.Message);
    }

    /// <summary>The recorded gauges of a scrape, by metric name and rule.</summary>
    private static async Task<Dictionary<(string Metric, string Rule), double>> ScrapeAsync(CollectorInstance collector)
    {
        var text = await collector.Http.GetStringAsync("/metrics");
        return Regex.Matches(text, "^(hotpath_recorded_[a-z_]+)\\{rule=\"([^\"]+)\"\\} (\\S+)$", RegexOptions.Multiline)
            .ToDictionary(m => (m.Groups[1].Value, m.Groups[2].Value), m => double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture));
    }
}
