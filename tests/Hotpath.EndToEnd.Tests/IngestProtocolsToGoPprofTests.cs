using System.Net.Http.Headers;
using System.Text;
using Google.Protobuf;
using Hotpath.Collector.Api.Otlp;
using Hotpath.Pprof;
using Hotpath.Testing;

namespace Hotpath.EndToEnd.Tests;

/// <summary>Profiles that came in through Pyroscope's ingest and OpenTelemetry's export, merged by the collector and read by Go's own pprof tool.</summary>
public sealed class IngestProtocolsToGoPprofTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hotpath-pyroscope-pprof-").FullName;

    [Fact]
    public async Task Go_tool_pprof_reads_the_merge_of_folded_text_and_a_pprof_body_sent_to_ingest()
    {
        await using var collector = await CollectorInstance.StartAsync();
        using (var folded = await collector.Http.PostAsync("/ingest?name=shop.cpu%7Bregion%3Deu%7D&sampleRate=100",
                   new StringContent("main;handler;checksumOfTheBasket 300\nmain;handler;render 100\n", Encoding.UTF8)))
            folded.EnsureSuccessStatusCode();
        using (var pprof = await collector.Http.PostAsync("/ingest?format=pprof&name=shop%7Bregion%3Deu%7D", new ByteArrayContent(TestData.Bytes("cpu_1.pb.gz"))))
            pprof.EnsureSuccessStatusCode();

        var url = new Uri(collector.BaseAddress, "/api/0/profiles/merge?service=shop&type=cpu&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00&labels=region%3Deu");
        var go = await ToolRun.RunAsync("go", ["tool", "pprof", "-top", "-sample_index=cpu", url.ToString()], _directory,
            new Dictionary<string, string> { ["PPROF_TMPDIR"] = _directory });
        var printed = go.Output;

        Assert.True(go.ExitCode == 0, printed + go.Error);
        Assert.Contains("checksumOfTheBasket", printed); // from the folded text: 3 s of the merge
        Assert.Contains("crypto/sha256.block", printed); // from the Go profile
    }

    [Fact]
    public async Task Go_tool_pprof_reads_the_merge_of_a_go_profile_and_ebpf_samples_sent_as_otlp()
    {
        await using var collector = await CollectorInstance.StartAsync();
        var payloads = new OtlpPayloads();
        var scope = payloads.Resource(new Dictionary<string, string> { ["service.name"] = "shop", ["cloud.region"] = "eu-west" });
        payloads.AddPprof(scope, TestData.Decode("cpu_1.pb.gz"));
        payloads.AddEbpfCpu(scope, [(["main", "serve", "checksumOfTheBasket"], 60)], 50_000_000, (ulong)UnixNanos.From(TestClock.UtcNow));
        var content = new ByteArrayContent(new ExportProfilesServiceRequest { ResourceProfiles = { payloads.Data.ResourceProfiles }, Dictionary = payloads.Dictionary }.ToByteArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        using (var reply = await collector.Http.PostAsync("/v1development/profiles", content))
            reply.EnsureSuccessStatusCode();

        var url = new Uri(collector.BaseAddress, "/api/0/profiles/merge?service=shop&type=cpu&from=2000-01-01T00:00:00&to=2100-01-01T00:00:00&labels=cloud.region%3Deu-west");
        var go = await ToolRun.RunAsync("go", ["tool", "pprof", "-top", "-sample_index=cpu", url.ToString()], _directory,
            new Dictionary<string, string> { ["PPROF_TMPDIR"] = _directory });
        var printed = go.Output;

        Assert.True(go.ExitCode == 0, printed + go.Error);
        Assert.Contains("Total samples = 6.09s", printed); // 3.09 s of the Go profile and 60 samples of 50 ms
        Assert.Contains("checksumOfTheBasket", printed);
        Assert.Contains("crypto/sha256.block", printed);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
