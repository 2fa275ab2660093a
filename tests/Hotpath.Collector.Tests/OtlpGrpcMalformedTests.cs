using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Hotpath.Collector.Api.Otlp;
using Hotpath.Pprof.Otlp;

namespace Hotpath.Collector.Tests;

/// <summary>
/// Malformed gRPC calls to OTLP's ProfilesService, framed by hand over real HTTP/2 as a broken exporter would
/// send them: each gets a gRPC status that says what was wrong (as OTLP/HTTP answers 400), never UNKNOWN.
/// </summary>
public sealed class OtlpGrpcMalformedTests(OtlpCollectorFixture fixture) : IClassFixture<OtlpCollectorFixture>
{
    private const string Path = "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export";

    private static byte[] Frame(ReadOnlySpan<byte> message, byte flag = 0, uint? declaredLength = null)
    {
        var frame = new byte[5 + message.Length];
        frame[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), declaredLength ?? (uint)message.Length);
        message.CopyTo(frame.AsSpan(5));
        return frame;
    }

    private static byte[] DeepKeyValueList(int depth)
    {
        var value = new AnyValue { StringValue = "leaf" };
        for (var i = 0; i < depth; i++)
            value = new AnyValue { KvlistValue = new KeyValueList { Values = { new KeyValue { Key = "k", Value = value } } } };
        var request = new ExportProfilesServiceRequest();
        request.ResourceProfiles.Add(new ResourceProfiles { Resource = new Resource { Attributes = { new KeyValue { Key = "deep", Value = value } } } });
        // Google.Protobuf writes a message by recursion, three frames a level: 10,000 levels overflowed a test
        // thread's stack in one run of the suite (the test host crashed), so the bytes are written on a thread with room.
        var bytes = Array.Empty<byte>();
        var writer = new Thread(() => bytes = request.ToByteArray(), maxStackSize: 64 * 1024 * 1024);
        writer.Start();
        writer.Join();
        return bytes;
    }

    public static TheoryData<string, int> Calls => new()
    {
        { "random bytes", 3 },
        { "a 10,000-deep kvlist", 3 },
        { "a compressed flag on a plain body", 3 },
        { "a declared length of 4 GB", 8 },
        { "a truncated message", 3 },
        { "a compressed flag of 2", 3 },
    };

    private static byte[] Body(string kind)
    {
        var random = new byte[512];
        new Random(24).NextBytes(random);
        random[0] = 0x0a; // a length-delimited field 1, its length past the end
        return kind switch
        {
            "random bytes" => Frame(random),
            "a 10,000-deep kvlist" => Frame(DeepKeyValueList(10_000)),
            "a compressed flag on a plain body" => Frame(new ExportProfilesServiceRequest().ToByteArray().Concat(new byte[] { 0x0a, 0x00 }).ToArray(), flag: 1),
            "a declared length of 4 GB" => Frame(random, declaredLength: uint.MaxValue),
            "a truncated message" => Frame(random.AsSpan(0, 100), declaredLength: 400),
            "a compressed flag of 2" => Frame(random, flag: 2),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }

    [Theory]
    [MemberData(nameof(Calls))]
    public async Task A_malformed_call_gets_a_status_that_names_the_fault_not_unknown(string kind, int expected)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.Collector.Addresses[1] + Path)
        {
            Content = new ByteArrayContent(Body(kind)),
            Version = HttpVersion.Version20, // cleartext HTTP/2 with prior knowledge, as gRPC clients speak it
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // gRPC carries its status in the trailers (or headers, when it sends no message)
        var status = response.TrailingHeaders.TryGetValues("grpc-status", out var trailer) ? trailer.Single()
            : response.Headers.GetValues("grpc-status").Single();
        var message = response.TrailingHeaders.TryGetValues("grpc-message", out var text) ? text.Single()
            : response.Headers.TryGetValues("grpc-message", out text) ? text.Single() : "";
        Assert.True(status == expected.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{kind}: grpc-status {status} ({Uri.UnescapeDataString(message)})");
        Assert.NotEmpty(message);
    }
}
