using Google.Protobuf;
using Hotpath.Testing;

namespace Hotpath.Collector.Tests;

/// <summary>
/// <c>/api/0/changes</c> over real HTTP, on a planted regression: one service, versions 1.4 and 1.5 on ten
/// instances each for half an hour, 1.5 spending eight points more in one function (<see cref="ChangeScenario"/>).
/// </summary>
public sealed class ChangesApiTests(PlantedFleet fleet) : IClassFixture<PlantedFleet>
{
    [Fact]
    public async Task The_planted_function_is_the_first_change_from_one_version_to_the_next()
    {
        var body = await fleet.ChangesAsync("labels=version%3D1.4&cmp_labels=version%3D1.5");

        var first = body.GetProperty("changes")[0];
        Assert.Equal(fleet.Scenario.Leaf, first.GetProperty("function").GetString());
        Assert.Equal("regression", first.GetProperty("change").GetString());
        Assert.True(first.GetProperty("regressed").GetBoolean());
        Assert.InRange(first.GetProperty("self").GetProperty("points").GetDouble(), 7, 9);
        Assert.True(first.GetProperty("self").GetProperty("p_value").GetDouble() < 1e-6);
        Assert.True(body.GetProperty("regressions").GetInt32() >= 1);
        Assert.Equal(PlantedFleet.Minutes * PlantedFleet.Instances, body.GetProperty("baseline").GetProperty("profiles").GetInt32());
        Assert.Equal(PlantedFleet.Minutes, body.GetProperty("target").GetProperty("intervals").GetInt32());
        Assert.Equal(60, body.GetProperty("interval_seconds").GetDouble());
        Assert.Equal("nanoseconds", body.GetProperty("unit").GetString());
    }

    [Fact]
    public async Task The_version_before_and_after_are_the_two_newest_values_of_the_label()
    {
        var body = await fleet.ChangesAsync("versions=version");

        Assert.Equal("version=1.4", body.GetProperty("baseline").GetProperty("labels").GetString());
        Assert.Equal("version=1.5", body.GetProperty("target").GetProperty("labels").GetString());
        Assert.Equal(fleet.Scenario.Leaf, body.GetProperty("changes")[0].GetProperty("function").GetString());
    }

    [Fact]
    public async Task In_a_rollout_the_version_after_is_the_one_seen_last_not_the_greater_name()
    {
        // 2.0 until minute 10, then 10.0: by name "2.0" sorts after "10.0", by time it came first.
        var service = CollectorInstance.NewServiceName("rollout");
        var random = new Random(3);
        for (var minute = 0; minute < 20; minute++)
        {
            var at = fleet.Start.AddMinutes(minute);
            var profile = fleet.Scenario.Draw(random, 1000, (at.UtcTicks - DateTime.UnixEpoch.Ticks) * 100, minute >= 10 ? fleet.Scenario.Leaf : null, 8);
            using var written = await fleet.Collector.PostAsync($"service={service}&type=cpu&labels=version%3D{(minute < 10 ? "2.0" : "10.0")}", profile.ToByteArray());
            Assert.Equal(System.Net.HttpStatusCode.OK, written.StatusCode);
        }

        using var response = await fleet.Collector.GetAsync(
            $"/api/0/changes?service={service}&type=cpu&from={ProfileBytes.Format(fleet.Start)}&to={ProfileBytes.Format(fleet.End)}&versions=version");
        var body = (await CollectorInstance.ReadEnvelopeAsync(response)).GetProperty("body");

        Assert.Equal("version=2.0", body.GetProperty("baseline").GetProperty("labels").GetString());
        Assert.Equal("version=10.0", body.GetProperty("target").GetProperty("labels").GetString());
        Assert.Equal(fleet.Scenario.Leaf, body.GetProperty("changes")[0].GetProperty("function").GetString());
    }

    [Fact]
    public async Task The_version_before_and_after_needs_two_values_in_the_range()
    {
        using var one = await fleet.Collector.GetAsync(fleet.Path("labels=version%3D1.4&versions=version"));

        Assert.Contains("the range holds one value (version=1.4) of label \"version\"", await PostProfileTests.AssertError(one, 400));
    }

    [Fact]
    public async Task Two_halves_of_one_version_show_no_regression()
    {
        var half = fleet.Start.AddMinutes(PlantedFleet.Minutes / 2);
        var body = await fleet.ChangesAsync(
            $"labels=version%3D1.4&cmp_from={ProfileBytes.Format(half)}&cmp_to={ProfileBytes.Format(fleet.End)}", to: half.AddSeconds(-1));

        Assert.Equal(0, body.GetProperty("regressions").GetInt32());
        Assert.DoesNotContain(body.GetProperty("changes").EnumerateArray(), c => c.GetProperty("regressed").GetBoolean());
        Assert.True(body.GetProperty("compared").GetInt32() > 50);
    }

    [Fact]
    public async Task A_higher_threshold_than_the_change_reports_no_regression()
    {
        var body = await fleet.ChangesAsync("labels=version%3D1.4&cmp_labels=version%3D1.5&threshold=20");

        Assert.Equal(0, body.GetProperty("regressions").GetInt32());
        Assert.Equal(20, body.GetProperty("threshold").GetDouble());
    }

    [Fact]
    public async Task Bad_criteria_and_too_short_a_side_are_bad_requests_that_say_why()
    {
        using var threshold = await fleet.Collector.GetAsync(fleet.Path("threshold=lots"));
        using var confidence = await fleet.Collector.GetAsync(fleet.Path("confidence=1.5"));
        using var oneMinute = await fleet.Collector.GetAsync(fleet.Path(
            $"labels=version%3D1.4&cmp_labels=version%3D1.5&cmp_to={ProfileBytes.Format(fleet.Start.AddSeconds(30))}"));
        using var nobody = await fleet.Collector.GetAsync(fleet.Path("labels=version%3D9"));

        Assert.Contains("bad \"threshold\" \"lots\"", await PostProfileTests.AssertError(threshold, 400));
        Assert.Contains("confidence 1.5 is not between 0 and 1", await PostProfileTests.AssertError(confidence, 400));
        Assert.Contains("the target has profiles in 1 of its 1 intervals", await PostProfileTests.AssertError(oneMinute, 400));
        Assert.Contains("the baseline has profiles in 0 of its", await PostProfileTests.AssertError(nobody, 400));
    }
}
