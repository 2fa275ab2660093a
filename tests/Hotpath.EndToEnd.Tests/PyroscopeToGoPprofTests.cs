using System.Text;
using Hotpath.Testing;

namespace Hotpath.EndToEnd.Tests;

/// <summary>Profiles that came in through Pyroscope's ingest, merged by the collector and read by Go's own pprof tool.</summary>
public sealed class PyroscopeToGoPprofTests : IDisposable
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

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
