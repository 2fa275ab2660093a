using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Hotpath.Collector.Api.Otlp;
using Hotpath.Pprof;
using Hotpath.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Hotpath.Collector.Tests;

/// <summary>
/// Every ingest protocol is bounded like profefe's pprof POST: what it inflates, parses and builds is reserved
/// against the decode memory budget before or as it is allocated, and label keys, values and service names
/// have limits, each refused in the protocol's own shape.
/// </summary>
public sealed class IngestBoundsTests
{
    private const long Budget = 16 * 1024 * 1024;

    // One decode may take the whole shared budget, so that a test can hold all of it with one reservation.
    private static Task<CollectorInstance> StartAsync() =>
        CollectorInstance.StartAsync($"--Collector:MaxDecodeMemory={Budget}", $"--Collector:DecodeMemoryBudget={Budget}");

    private static DecodeBudget BudgetOf(CollectorInstance collector) => collector.Services.GetRequiredService<DecodeBudget>();

    private static ByteArrayContent Content(byte[] body, string type, bool gzip = false)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(type);
        if (gzip)
            content.Headers.ContentEncoding.Add("gzip");
        return content;
    }

    /// <summary>Requests that hold nothing worth storing and would each allocate before they are refused, by protocol.</summary>
    public static TheoryData<string> Unreservable => ["folded text", "push", "push gzip bomb", "otlp", "otlp gzip bomb"];

    private static async Task<HttpResponseMessage> SendAsync(CollectorInstance collector, string kind) => kind switch
    {
        "folded text" => await collector.Http.PostAsync("/ingest?name=busy.cpu&format=folded", Content(Encoding.UTF8.GetBytes("main;work no-count\n"), "text/plain")),
        "push" => await collector.Http.PostAsync("/push.v1.PusherService/Push", Content([0x0a, 0xff, 0xff, 0x03], "application/proto")),
        "push gzip bomb" => await collector.Http.PostAsync("/push.v1.PusherService/Push", Content(TestData.Bytes("gzip_bomb.gz"), "application/proto", gzip: true)),
        "otlp" => await collector.Http.PostAsync("/v1development/profiles", Content([0x0a, 0xff, 0xff, 0x03], "application/x-protobuf")),
        "otlp gzip bomb" => await collector.Http.PostAsync("/v1development/profiles", Content(TestData.Bytes("gzip_bomb.gz"), "application/x-protobuf", gzip: true)),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory]
    [MemberData(nameof(Unreservable))]
    public async Task While_decodes_hold_the_whole_budget_every_protocol_answers_503_before_it_inflates_parses_or_builds(string kind)
    {
        await using var collector = await StartAsync();
        using (BudgetOf(collector).Reserve(Budget))
        {
            using var busy = await SendAsync(collector, kind);

            Assert.Equal(HttpStatusCode.ServiceUnavailable, busy.StatusCode);
            Assert.Equal("1", busy.Headers.RetryAfter?.ToString());
            Assert.Contains("busy", await busy.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // With the budget free, the same request gets what it deserves: refused for what it is.
        using var refused = await SendAsync(collector, kind);
        Assert.InRange((int)refused.StatusCode, 400, 499);
        Assert.Equal(0, BudgetOf(collector).InUseBytes);
    }

    [Theory]
    [InlineData("folded", "f{0:D7};g{0:D7};h{0:D7} 1\n")]
    [InlineData("lines", "f{0:D7};g{0:D7};h{0:D7}\n")]
    [InlineData("folded", "f{0:D7};")]
    public async Task Folded_text_that_builds_past_the_decode_limit_is_413_naming_it_and_gives_its_memory_back(string format, string pattern)
    {
        await using var collector = await StartAsync();
        var text = new StringBuilder();
        for (var i = 0; i < 200_000; i++)
            text.AppendFormat(System.Globalization.CultureInfo.InvariantCulture, pattern, i);
        if (!pattern.EndsWith('\n'))
            text.Append(" 1\n"); // one line of 200,000 frames

        using var response = await collector.Http.PostAsync($"/ingest?name=wide.cpu&format={format}", Content(Encoding.UTF8.GetBytes(text.ToString()), "text/plain"));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("(Collector:MaxDecodeMemory)", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0, BudgetOf(collector).InUseBytes);
        Assert.Empty(await collector.FindAllAsync("wide"));
        // A folded profile of a usual size still goes in under the same limits.
        using var usual = await collector.Http.PostAsync("/ingest?name=wide.cpu&format=folded", Content(Encoding.UTF8.GetBytes("main;work 3\nmain;idle 1\n"), "text/plain"));
        Assert.Equal(HttpStatusCode.OK, usual.StatusCode);
    }

    [Fact]
    public async Task Eight_push_gzip_bombs_at_once_are_each_refused_in_connects_shape_and_the_budget_is_free_after()
    {
        await using var collector = await CollectorInstance.StartAsync();
        var bomb = TestData.Bytes("gzip_bomb.gz");

        var replies = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => collector.Http.PostAsync("/push.v1.PusherService/Push", Content(bomb, "application/proto", gzip: true))));

        foreach (var reply in replies)
        {
            using (reply)
            {
                Assert.Contains(reply.StatusCode, new[] { HttpStatusCode.RequestEntityTooLarge, HttpStatusCode.ServiceUnavailable });
                using var error = JsonDocument.Parse(await reply.Content.ReadAsStringAsync());
                Assert.Contains(error.RootElement.GetProperty("code").GetString(), new[] { "resource_exhausted", "unavailable" });
            }
        }

        Assert.Equal(0, BudgetOf(collector).InUseBytes);
    }

    /// <summary>One label (or service name) too long, sent by each protocol.</summary>
    public static TheoryData<string, string> TooLong => new()
    {
        { "profefe label value", "the value of \"k\" has 3000 characters, at most 2048" },
        { "profefe label key", "a label key of 1100 characters, at most 1024" },
        { "profefe service", "a service name of 1100 characters, at most 1024" },
        { "ingest label value", "the value of \"k\" has 3000 characters, at most 2048" },
        { "push label value", "the value of \"k\" has 3000 characters, at most 2048" },
        { "push service", "a service name of 1100 characters, at most 1024" },
        { "otlp attribute value", "the value of \"k\" has 3000 characters, at most 2048" },
    };

    [Theory]
    [MemberData(nameof(TooLong))]
    public async Task Labels_and_service_names_past_their_limits_are_400_on_every_protocol_and_store_nothing(string kind, string message)
    {
        await using var collector = await CollectorInstance.StartAsync();
        var service = kind.EndsWith("service", StringComparison.Ordinal) ? new string('s', 1100) : CollectorInstance.NewServiceName("long");
        var key = kind.EndsWith("label key", StringComparison.Ordinal) ? new string('k', 1100) : "k";
        var value = kind.EndsWith("value", StringComparison.Ordinal) ? new string('v', 3000) : "v";
        var cpu = TestData.Bytes("cpu_1.pb.gz");

        using var response = kind.Split(' ')[0] switch
        {
            "profefe" => await collector.PostAsync($"service={service}&type=cpu&labels={key}%3D{value}", cpu),
            "ingest" => await collector.Http.PostAsync($"/ingest?name={service}.cpu%7B{key}%3D{value}%7D&format=pprof", Content(cpu, "application/octet-stream")),
            "push" => await collector.Http.PostAsync("/push.v1.PusherService/Push", Content(Push(service, key, value, cpu), "application/proto")),
            _ => await collector.Http.PostAsync("/v1development/profiles", Content(Otlp(service, key, value), "application/x-protobuf")),
        };

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(message, await ErrorTextAsync(response), StringComparison.Ordinal);
        Assert.Empty(await collector.FindAllAsync(service));
    }

    /// <summary>The error text of a refusal: profefe's "error", Connect's "message", or a google.rpc.Status's bytes.</summary>
    private static async Task<string> ErrorTextAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        if (response.Content.Headers.ContentType?.MediaType != "application/json")
            return text;
        using var json = JsonDocument.Parse(text);
        return json.RootElement.TryGetProperty("error", out var error) ? error.GetString()! : json.RootElement.GetProperty("message").GetString()!;
    }

    private static byte[] Push(string service, string key, string value, byte[] profile)
    {
        var series = new Pprof.Pyroscope.RawProfileSeries();
        series.Labels.Add(new Pprof.Pyroscope.LabelPair { Name = "service_name", Value = service });
        series.Labels.Add(new Pprof.Pyroscope.LabelPair { Name = "__name__", Value = "process_cpu" });
        series.Labels.Add(new Pprof.Pyroscope.LabelPair { Name = key, Value = value });
        series.Samples.Add(new Pprof.Pyroscope.RawSample { RawProfile = ByteString.CopyFrom(profile) });
        return new Pprof.Pyroscope.PushRequest { Series = { series } }.ToByteArray();
    }

    private static byte[] Otlp(string service, string key, string value)
    {
        var payloads = new OtlpPayloads();
        payloads.AddPprof(payloads.Resource(new Dictionary<string, string> { ["service.name"] = service, [key] = value }), TestData.Decode("cpu_1.pb.gz"));
        return new ExportProfilesServiceRequest { ResourceProfiles = { payloads.Data.ResourceProfiles }, Dictionary = payloads.Data.Dictionary }.ToByteArray();
    }
}
