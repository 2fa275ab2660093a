using System.Net;
using System.Text.Json;
using Hotpath.Testing;
using static Hotpath.Collector.Tests.PostProfileTests;

namespace Hotpath.Collector.Tests;

public sealed class FindProfilesTests(CollectorFixture fixture) : IClassFixture<CollectorFixture>
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 1, 10, 0, 0, TimeSpan.Zero);

    private CollectorInstance Collector => fixture.Collector;

    private async Task<string> PostAt(string service, string type, int seconds, string labels = "", int millis = 0)
    {
        var file = type == "heap" ? "heap_1.pb.gz" : "cpu_1.pb.gz";
        var meta = await Collector.PostOkAsync(service, type, ProfileBytes.WithTime(file, T0.AddSeconds(seconds).AddMilliseconds(millis)),
            labels.Length > 0 ? "&labels=" + Uri.EscapeDataString(labels) : "");
        return meta.GetProperty("id").GetString()!;
    }

    private async Task<List<string>> Ids(string service, int from, int to, string extra = "")
    {
        using var response = await Collector.GetAsync(
            $"/api/0/profiles?service={service}&from={ProfileBytes.Format(T0.AddSeconds(from))}&to={ProfileBytes.Format(T0.AddSeconds(to))}{extra}");
        if (response.StatusCode == HttpStatusCode.NotFound)
            return [];
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var envelope = await CollectorInstance.ReadEnvelopeAsync(response);
        return [.. envelope.GetProperty("body").EnumerateArray().Select(m => m.GetProperty("id").GetString()!)];
    }

    [Fact]
    public async Task Relative_times_count_back_from_now_as_pyroscope_writes_them()
    {
        var service = CollectorInstance.NewServiceName();
        var tenMinutesAgo = await Collector.PostOkAsync(service, "cpu", ProfileBytes.WithTime("cpu_1.pb.gz", TestClock.UtcNow.AddMinutes(-10)));
        await Collector.PostOkAsync(service, "cpu", ProfileBytes.WithTime("cpu_2.pb.gz", TestClock.UtcNow.AddDays(-2)));

        async Task<List<string>> Find(string from, string to)
        {
            using var response = await Collector.GetAsync($"/api/0/profiles?service={service}&from={from}&to={to}");
            return response.StatusCode == HttpStatusCode.NotFound
                ? []
                : [.. (await CollectorInstance.ReadEnvelopeAsync(response)).GetProperty("body").EnumerateArray().Select(m => m.GetProperty("id").GetString()!)];
        }

        Assert.Equal([tenMinutesAgo.GetProperty("id").GetString()!], await Find("now-1h", "now"));
        Assert.Empty(await Find("now-5m", "now"));
        Assert.Equal(2, (await Find("now-1w", "now")).Count);
        Assert.Single(await Find("now-3d", "now-1d"));
        using var merge = await Collector.GetAsync($"/api/0/profiles/merge?service={service}&type=cpu&from=now-60m&to=now");
        Assert.Equal(HttpStatusCode.OK, merge.StatusCode);
    }

    [Theory]
    [InlineData("now-1x")]
    [InlineData("now-h")]
    [InlineData("now+1h")]
    [InlineData("nowish")]
    public async Task A_relative_time_it_cannot_read_is_a_bad_request(string from)
    {
        using var response = await Collector.GetAsync($"/api/0/profiles?service=s&from={Uri.EscapeDataString(from)}&to=now");

        Assert.StartsWith($"bad request: bad \"from\" timestamp \"{from}\"", await AssertError(response, 400));
    }

    [Fact]
    public async Task Find_lists_metadata_oldest_first_whatever_the_upload_order()
    {
        var service = CollectorInstance.NewServiceName();
        var late = await PostAt(service, "cpu", 30);
        var early = await PostAt(service, "cpu", 10);
        var middle = await PostAt(service, "heap", 20);

        using var response = await Collector.GetAsync($"/api/0/profiles?service={service}&from={ProfileBytes.Format(T0)}&to={ProfileBytes.Format(T0.AddMinutes(1))}");

        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = (await CollectorInstance.ReadEnvelopeAsync(response)).GetProperty("body");
        Assert.Equal([early, middle, late], body.EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        Assert.Equal(JsonValueKind.Object, body[0].ValueKind);
        Assert.Equal("2026-11-01T10:00:10Z", body[0].GetProperty("created_at").GetString());
    }

    [Fact]
    public async Task The_window_is_inclusive_at_both_ends_and_compared_at_full_precision()
    {
        var service = CollectorInstance.NewServiceName();
        var at10 = await PostAt(service, "cpu", 10);
        var at20 = await PostAt(service, "cpu", 20, millis: 500);
        var at30 = await PostAt(service, "cpu", 30);

        Assert.Equal([at10, at20, at30], await Ids(service, 10, 30));
        Assert.Equal([at10], await Ids(service, 10, 10));
        Assert.Equal([at20], await Ids(service, 20, 21));
        Assert.Empty(await Ids(service, 19, 20));
    }

    [Fact]
    public async Task A_type_filter_keeps_that_type_and_an_unknown_type_filters_nothing()
    {
        var service = CollectorInstance.NewServiceName();
        var cpu = await PostAt(service, "cpu", 1);
        var heap = await PostAt(service, "heap", 2);

        Assert.Equal([cpu], await Ids(service, 0, 5, "&type=cpu"));
        Assert.Equal([heap], await Ids(service, 0, 5, "&type=heap"));
        Assert.Equal([cpu, heap], await Ids(service, 0, 5, "&type=bogus"));
        Assert.Equal([cpu, heap], await Ids(service, 0, 5));
    }

    [Fact]
    public async Task Labels_match_as_a_subset_whatever_order_profiles_arrived_in()
    {
        var service = CollectorInstance.NewServiceName();
        var c = await PostAt(service, "cpu", 3, "dc=fra,host=a,v=1");
        var a = await PostAt(service, "cpu", 1, "dc=fra,host=a");
        var b = await PostAt(service, "heap", 2, "dc=fra,host=b");
        await PostAt(service, "cpu", 4, "dc=nyc,host=a");

        Assert.Equal([a, b, c], await Ids(service, 0, 9, "&labels=dc%3Dfra"));
        Assert.Equal([a, c], await Ids(service, 0, 9, "&labels=host%3Da,dc%3Dfra"));
        Assert.Equal([a, c], await Ids(service, 0, 9, "&labels=dc%3Dfra,host%3Da&type=cpu"));
        Assert.Equal([c], await Ids(service, 0, 9, "&labels=v%3D1"));
        Assert.Empty(await Ids(service, 0, 9, "&labels=dc%3Dfra,host%3Dc"));
        Assert.Empty(await Ids(service, 0, 9, "&labels=zone%3Dx"));
    }

    [Fact]
    public async Task Limit_keeps_the_newest_still_listed_oldest_first()
    {
        var service = CollectorInstance.NewServiceName();
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
            ids.Add(await PostAt(service, "cpu", i));

        Assert.Equal(ids[3..], await Ids(service, 0, 9, "&limit=2"));
        Assert.Equal(ids[4..], await Ids(service, 0, 9, "&limit=1&labels="));
        Assert.Equal(ids, await Ids(service, 0, 9, "&limit=0"));
        Assert.Equal(ids, await Ids(service, 0, 9, "&limit=-3"));
        Assert.Equal(ids, await Ids(service, 0, 9, "&limit=50"));
    }

    [Fact]
    public async Task Limit_with_a_label_filter_keeps_the_newest_matches()
    {
        var service = CollectorInstance.NewServiceName();
        var a = await PostAt(service, "cpu", 1, "k=v");
        await PostAt(service, "cpu", 2, "k=w");
        var c = await PostAt(service, "cpu", 3, "k=v");
        var d = await PostAt(service, "cpu", 4, "k=v");

        Assert.Equal([c, d], await Ids(service, 0, 9, "&labels=k%3Dv&limit=2"));
        Assert.Equal([a, c, d], await Ids(service, 0, 9, "&labels=k%3Dv"));
    }

    [Fact]
    public async Task Rfc3339_times_select_the_same_window_as_the_plain_layout()
    {
        var service = CollectorInstance.NewServiceName();
        var id = await PostAt(service, "cpu", 0);

        using var response = await Collector.GetAsync($"/api/0/profiles?service={service}&from=2026-11-01T11:59:59%2B02:00&to=2026-11-01T10:00:01Z");

        var body = (await CollectorInstance.ReadEnvelopeAsync(response)).GetProperty("body");
        Assert.Equal(id, body[0].GetProperty("id").GetString());
    }

    [Fact]
    public async Task Nothing_found_is_a_404_in_the_envelope()
    {
        using var response = await Collector.GetAsync($"/api/0/profiles?service={CollectorInstance.NewServiceName()}&from=2026-01-01T00:00:00&to=2026-01-02T00:00:00");

        await AssertError(response, 404, "nothing found");
    }

    [Theory]
    [InlineData("from=2026-01-01T00:00:00&to=2026-01-02T00:00:00", "bad request: missing \"service\"")]
    [InlineData("service=s&to=2026-01-02T00:00:00", "bad request: missing \"from\"")]
    [InlineData("service=s&from=2026-01-01T00:00:00", "bad request: missing \"to\"")]
    public async Task Missing_parameters_are_bad_requests(string query, string message)
    {
        using var find = await Collector.GetAsync("/api/0/profiles?" + query);
        using var merge = await Collector.GetAsync("/api/0/profiles/merge?type=cpu&" + query);

        await AssertError(find, 400, message);
        await AssertError(merge, 400, message);
    }

    [Theory]
    [InlineData("from=yesterday&to=2026-01-02T00:00:00", "bad request: bad \"from\" timestamp \"yesterday\"")]
    [InlineData("from=2026-01-01T00:00:00&to=2026-13-02T00:00:00", "bad request: bad \"to\" timestamp \"2026-13-02T00:00:00\"")]
    [InlineData("from=2026-01-02T00:00:00&to=2026-01-01T00:00:00", "bad request: ")]
    [InlineData("from=2026-01-01T00:00:00&to=2026-01-02T00:00:00&limit=x", "bad request: bad \"limit\" \"x\"")]
    public async Task Bad_times_and_limits_are_bad_requests(string query, string prefix)
    {
        using var response = await Collector.GetAsync("/api/0/profiles?service=s&" + query);

        Assert.StartsWith(prefix, await AssertError(response, 400));
    }
}
