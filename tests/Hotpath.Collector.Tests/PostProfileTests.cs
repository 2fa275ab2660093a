using System.Net;
using System.Text.Json;
using Hotpath.Testing;

namespace Hotpath.Collector.Tests;

public sealed class PostProfileTests(CollectorFixture fixture) : IClassFixture<CollectorFixture>
{
    private CollectorInstance Collector => fixture.Collector;

    public static TheoryData<string, string> RealProfiles()
    {
        var data = new TheoryData<string, string>();
        foreach (var (file, type) in TestData.ValidProfiles)
            data.Add(file, type);
        return data;
    }

    [Theory]
    [MemberData(nameof(RealProfiles))]
    public async Task Posting_a_real_profile_replies_with_its_metadata_and_stores_its_bytes_verbatim(string file, string type)
    {
        var service = CollectorInstance.NewServiceName();
        var bytes = TestData.Bytes(file);

        var meta = await Collector.PostOkAsync(service, type, bytes, "&instance_id=i-7&labels=region=eu,version=1.4");

        var id = meta.GetProperty("id").GetString()!;
        Assert.DoesNotContain('+', id);
        Assert.Equal(type, meta.GetProperty("type").GetString());
        Assert.Equal(service, meta.GetProperty("service").GetString());
        Assert.Equal("i-7", meta.GetProperty("instance_id").GetString());
        Assert.Equal([("region", "eu"), ("version", "1.4")], Labels(meta));
        var stored = await Collector.Http.GetByteArrayAsync("/api/0/profiles/" + id);
        Assert.Equal(bytes, stored);
    }

    [Fact]
    public async Task Created_at_is_the_profiles_own_time_truncated_to_seconds_even_when_a_parameter_is_given()
    {
        var time = new DateTimeOffset(2026, 3, 4, 5, 6, 7, TimeSpan.Zero).AddMilliseconds(900);

        var meta = await Collector.PostOkAsync(CollectorInstance.NewServiceName(), "cpu",
            ProfileBytes.WithTime("cpu_1.pb.gz", time), "&created_at=2019-05-01T18:45:00");

        Assert.Equal("2026-03-04T05:06:07Z", meta.GetProperty("created_at").GetString());
    }

    [Theory]
    [InlineData("2019-05-01T18:45:00")]
    [InlineData("2019-05-01T18:45:00Z")]
    [InlineData("2019-05-01T20:45:00%2B02:00")]
    [InlineData("2019-05-01T13:45:00-05:00")]
    public async Task Without_a_profile_time_the_created_at_parameter_is_used_in_utc(string createdAt)
    {
        var meta = await Collector.PostOkAsync(CollectorInstance.NewServiceName(), "cpu",
            ProfileBytes.WithTime("cpu_1.pb.gz", null), "&created_at=" + createdAt);

        Assert.Equal("2019-05-01T18:45:00Z", meta.GetProperty("created_at").GetString());
    }

    [Fact]
    public async Task Without_any_time_created_at_is_now()
    {
        var meta = await Collector.PostOkAsync(CollectorInstance.NewServiceName(), "cpu", ProfileBytes.WithTime("cpu_1.pb.gz", null));

        var createdAt = DateTimeOffset.Parse(meta.GetProperty("created_at").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(createdAt, TestClock.UtcNow.AddMinutes(-1), TestClock.UtcNow.AddMinutes(1));
    }

    [Theory]
    [InlineData("2019-05-01")]
    [InlineData("1556736300")]
    [InlineData("yesterday")]
    [InlineData("2019-13-01T00:00:00")]
    public async Task A_created_at_in_no_known_format_is_a_bad_request(string createdAt)
    {
        using var response = await Collector.PostAsync($"service=s&type=cpu&created_at={createdAt}", ProfileBytes.WithTime("cpu_1.pb.gz", null));

        await AssertError(response, 400, $"bad request: bad \"created_at\" \"{createdAt}\": time in unsupported format \"{createdAt}\"");
    }

    [Fact]
    public async Task A_missing_service_is_a_bad_request()
    {
        using var response = await Collector.PostAsync("type=cpu", TestData.Bytes("cpu_1.pb.gz"));

        await AssertError(response, 400, "bad request: missing \"service\"");
    }

    [Theory]
    [InlineData("")]
    [InlineData("&type=CPU")]
    [InlineData("&type=bogus")]
    public async Task A_missing_or_unknown_type_is_a_bad_request(string type)
    {
        using var response = await Collector.PostAsync("service=s" + type, TestData.Bytes("cpu_1.pb.gz"));

        await AssertError(response, 400, "bad request: unknown profile type");
    }

    [Fact]
    public async Task An_unknown_type_is_answered_with_the_list_of_types_in_a_hint()
    {
        using var response = await Collector.PostAsync("service=s&type=memory", TestData.Bytes("cpu_1.pb.gz"));

        // The error text is profefe's, which its clients compare; the hint beside it says what would work.
        await AssertError(response, 400, "bad request: unknown profile type");
        Assert.Equal("\"memory\" is not a type; the types are cpu, heap, block, mutex, goroutine, threadcreate, other, trace, wall",
            (await CollectorInstance.ReadEnvelopeAsync(response)).GetProperty("hint").GetString());
    }

    [Theory]
    [InlineData("garbage.bin", "not a protobuf profile")]
    [InlineData("truncated.pb.gz", "")]
    [InlineData("cpu_empty.pb.gz", "no samples")]
    [InlineData("trace.out", "")]
    public async Task A_body_that_is_not_a_valid_profile_is_malformed(string file, string reason)
    {
        using var response = await Collector.PostAsync("service=s&type=cpu", TestData.Bytes(file));

        var error = await AssertError(response, 400);
        Assert.StartsWith("malformed profile (", error);
        Assert.Contains(reason, error);
    }

    [Fact]
    public async Task An_empty_body_is_malformed()
    {
        using var response = await Collector.PostAsync("service=s&type=heap", []);

        Assert.StartsWith("malformed profile (", await AssertError(response, 400));
    }

    [Fact]
    public async Task A_gzip_bomb_is_refused_and_the_collector_keeps_serving()
    {
        using var response = await Collector.PostAsync("service=s&type=cpu", TestData.Bytes("gzip_bomb.gz"));

        Assert.Contains((int)response.StatusCode, new[] { 400, 413 });
        await AssertError(response, (int)response.StatusCode);
        using var version = await Collector.GetAsync("/api/0/version");
        Assert.Equal(HttpStatusCode.OK, version.StatusCode);
    }

    [Fact]
    public async Task A_trace_is_stored_without_parsing_whatever_it_contains()
    {
        var service = CollectorInstance.NewServiceName();
        var garbage = TestData.Bytes("garbage.bin");

        var meta = await Collector.PostOkAsync(service, "trace", garbage, "&created_at=2020-01-02T03:04:05");

        Assert.Equal("2020-01-02T03:04:05Z", meta.GetProperty("created_at").GetString());
        Assert.Equal(garbage, await Collector.Http.GetByteArrayAsync("/api/0/profiles/" + meta.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task Labels_are_split_trimmed_unescaped_and_sorted_by_key()
    {
        var labels = Uri.EscapeDataString("b=2, a=1 ,=x,c,path=" + Uri.EscapeDataString("/a,b=c d+e%f") + ",city=z%C3%BCrich,plus=1+2");

        var meta = await Collector.PostOkAsync(CollectorInstance.NewServiceName(), "cpu", TestData.Bytes("cpu_1.pb.gz"), "&labels=" + labels);

        Assert.Equal([("a", "1"), ("b", "2"), ("c", ""), ("city", "zürich"), ("path", "/a,b=c d+e%f"), ("plus", "1 2")], Labels(meta));
    }

    [Fact]
    public async Task Duplicate_label_keys_are_kept_in_order()
    {
        var meta = await Collector.PostOkAsync(CollectorInstance.NewServiceName(), "cpu", TestData.Bytes("cpu_1.pb.gz"), "&labels=k%3D2%2Ca%3D0%2Ck%3D1");

        Assert.Equal([("a", "0"), ("k", "2"), ("k", "1")], Labels(meta));
    }

    [Fact]
    public async Task A_label_with_a_bad_escape_is_a_bad_request()
    {
        using var response = await Collector.PostAsync("service=s&type=cpu&labels=a%3D%25", TestData.Bytes("cpu_1.pb.gz"));

        Assert.StartsWith("bad request: bad \"labels\" \"a=%\"", await AssertError(response, 400));
    }

    internal static List<(string, string)> Labels(JsonElement meta) =>
        meta.TryGetProperty("labels", out var labels)
            ? [.. labels.EnumerateArray().Select(l => (l.GetProperty("key").GetString()!, l.GetProperty("value").GetString()!))]
            : [];

    /// <summary>Asserts the profefe error envelope, as application/json; returns the error text.</summary>
    internal static async Task<string> AssertError(HttpResponseMessage response, int status, string? message = null)
    {
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var envelope = await CollectorInstance.ReadEnvelopeAsync(response);
        Assert.Equal(status, envelope.GetProperty("code").GetInt32());
        Assert.False(envelope.TryGetProperty("body", out _));
        var error = envelope.GetProperty("error").GetString()!;
        if (message is not null)
            Assert.Equal(message, error);
        return error;
    }
}
