using System.Text.Json;
using Google.Protobuf;
using Hotpath.Testing;

namespace Hotpath.Collector.Tests;

/// <summary>
/// <c>/api/0/changes</c> over real HTTP, on a planted regression: one service, versions 1.4 and 1.5 on ten
/// instances each for half an hour, 1.5 spending eight points more in one function (<see cref="ChangeScenario"/>).
/// </summary>
public sealed class ChangesApiTests(ChangesApiTests.PlantedFleet fleet) : IClassFixture<ChangesApiTests.PlantedFleet>
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

    /// <summary>The two versions' half hour, written once for the class through the API, ending an hour before the tests' now.</summary>
    public sealed class PlantedFleet : IAsyncLifetime
    {
        public const int Instances = 10;
        public const int Minutes = 30;

        private CollectorInstance? _collector;

        public ChangeScenario Scenario { get; } = new(TestData.Decode("cpu_2.pb.gz"));

        public string Service { get; } = CollectorInstance.NewServiceName("changes");

        public DateTimeOffset Start { get; } = new DateTimeOffset(TestClock.UtcNow.UtcDateTime.Date, TimeSpan.Zero).AddHours(TestClock.UtcNow.Hour - 2);

        public DateTimeOffset End => Start.AddMinutes(Minutes).AddSeconds(-1);

        public CollectorInstance Collector => _collector ?? throw new InvalidOperationException("not started");

        /// <summary>The baseline over the whole half hour (or up to <paramref name="to"/>), and the parameters given.</summary>
        public string Path(string parameters, DateTimeOffset? to = null) =>
            $"/api/0/changes?service={Service}&type=cpu&from={ProfileBytes.Format(Start)}&to={ProfileBytes.Format(to ?? End)}&{parameters}";

        public async Task<JsonElement> ChangesAsync(string parameters, DateTimeOffset? to = null)
        {
            using var response = await Collector.GetAsync(Path(parameters, to));
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            return (await CollectorInstance.ReadEnvelopeAsync(response)).GetProperty("body");
        }

        public async Task InitializeAsync()
        {
            _collector = await CollectorInstance.StartAsync();
            var random = new Random(28);
            var posts = new List<(string Query, byte[] Body)>();
            for (var minute = 0; minute < Minutes; minute++)
            {
                for (var instance = 0; instance < Instances; instance++)
                {
                    foreach (var version in (string[])["1.4", "1.5"])
                    {
                        var at = Start.AddMinutes(minute).AddSeconds(instance);
                        var profile = Scenario.Draw(random, 1000, (at.UtcTicks - DateTime.UnixEpoch.Ticks) * 100, version == "1.5" ? Scenario.Leaf : null, 8);
                        posts.Add(($"service={Service}&type=cpu&instance_id=i{instance}-{version}&labels=version%3D{version},host%3Dh{instance}", profile.ToByteArray()));
                    }
                }
            }

            await Parallel.ForEachAsync(posts, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (post, _) =>
            {
                using var response = await Collector.PostAsync(post.Query, post.Body);
                Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            });
        }

        public async Task DisposeAsync()
        {
            if (_collector is not null)
                await _collector.DisposeAsync();
        }
    }
}
