using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Hotpath.Pprof.Pyroscope.Querier;
using Hotpath.Testing;

namespace Hotpath.Collector.Tests;

/// <summary>
/// Hostile requests to every method of Pyroscope's query service, over real HTTP: each gets a 4xx Connect error
/// (a status and <c>{"code","message"}</c>) and the collector stays up, never a 500 or an unbounded decode.
/// </summary>
public sealed class QuerierHostileInputTests(CollectorFixture fixture) : IClassFixture<CollectorFixture>
{
    public static TheoryData<string> Methods =>
        ["ProfileTypes", "LabelNames", "LabelValues", "Series", "SelectMergeStacktraces", "SelectMergeProfile", "SelectSeries", "Diff", "GetProfileStats"];

    private async Task<(HttpStatusCode Status, string Code, string Message)> PostAsync(string method, byte[] body, string type = "application/proto", bool gzip = false)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(type);
        if (gzip)
            content.Headers.ContentEncoding.Add("gzip");
        using var response = await fixture.Collector.Http.PostAsync("/querier.v1.QuerierService/" + method, content);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, error.RootElement.GetProperty("code").GetString()!, error.RootElement.GetProperty("message").GetString()!);
    }

    private async Task AssertStillServesAsync()
    {
        using var health = await fixture.Collector.Http.GetAsync("/api/0/version");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public async Task A_gzip_bomb_is_resource_exhausted_once_its_inflated_bytes_pass_the_limit(string method)
    {
        var (status, code, message) = await PostAsync(method, TestData.Bytes("gzip_bomb.gz"), gzip: true);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("resource_exhausted", code);
        Assert.Contains("decompress", message, StringComparison.OrdinalIgnoreCase);
        await AssertStillServesAsync();
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public async Task A_truncated_message_is_invalid_argument_in_binary_and_in_json(string method)
    {
        // Field 2, length-delimited, 16 bytes long, of which 1 arrived.
        var binary = await PostAsync(method, [0x12, 0x10, 0x61]);
        var json = await PostAsync(method, Encoding.UTF8.GetBytes("{\"start\": \"17"), "application/json");

        Assert.Equal((HttpStatusCode.BadRequest, "invalid_argument"), (binary.Status, binary.Code));
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_argument"), (json.Status, json.Code));
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task Ten_thousand_selectors_or_matchers_and_a_megabyte_selector_are_invalid_argument()
    {
        var series = new SeriesRequest { Matchers = { Enumerable.Repeat("{service_name=\"api\"}", 10_000) } };
        var matchers = new SelectMergeStacktracesRequest
        {
            ProfileTypeID = "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
            LabelSelector = "{" + string.Join(",", Enumerable.Range(0, 10_000).Select(i => $"k{i}=\"\"")) + "}",
        };
        var huge = new SelectMergeStacktracesRequest { ProfileTypeID = matchers.ProfileTypeID, LabelSelector = "{a=\"" + new string('x', 1 << 20) + "\"}" };

        var tooManySelectors = await PostAsync("Series", series.ToByteArray());
        var tooManyMatchers = await PostAsync("SelectMergeStacktraces", matchers.ToByteArray());
        var tooLong = await PostAsync("SelectMergeStacktraces", huge.ToByteArray());

        Assert.Equal((HttpStatusCode.BadRequest, "invalid_argument"), (tooManySelectors.Status, tooManySelectors.Code));
        Assert.Contains("at most 64", tooManySelectors.Message, StringComparison.Ordinal);
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_argument"), (tooManyMatchers.Status, tooManyMatchers.Code));
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_argument"), (tooLong.Status, tooLong.Code));
        Assert.Contains("at most 16384", tooLong.Message, StringComparison.Ordinal);
        await AssertStillServesAsync();
    }
}
