using System.Text.Json;
using Google.Protobuf;
using Xunit;

namespace Hotpath.Testing;

/// <summary>
/// A planted regression written through the API of a collector of its own: one service, versions 1.4 and 1.5 on
/// ten instances each, a CPU profile a minute each for the half hour that starts two hours before the tests' hour,
/// 1.5 spending eight points more in <see cref="ChangeScenario.Leaf"/>. A class fixture: written once per class.
/// </summary>
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
        await WriteAsync(_collector, Scenario, Service, Start);
    }

    /// <summary>Writes the two versions' half hour from <paramref name="start"/> into <paramref name="collector"/> as <paramref name="service"/>.</summary>
    public static async Task WriteAsync(CollectorInstance collector, ChangeScenario scenario, string service, DateTimeOffset start)
    {
        ArgumentNullException.ThrowIfNull(collector);
        ArgumentNullException.ThrowIfNull(scenario);
        var posts = scenario.TwoVersions(service, start, Instances, Minutes, seed: 28).ToList();
        await Parallel.ForEachAsync(posts, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (post, _) =>
        {
            using var response = await collector.PostAsync(post.Query, post.Body);
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        });
    }

    public async Task DisposeAsync()
    {
        if (_collector is not null)
            await _collector.DisposeAsync();
    }
}
