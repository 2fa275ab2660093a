using BenchmarkDotNet.Attributes;
using Hotpath.Pprof;
using Hotpath.Storage;
using Hotpath.Storage.ClickHouse;

namespace Hotpath.Benchmarks;

/// <summary>
/// What the ClickHouse write loop pays per batch to turn decoded profiles into stack-store rows: 16 real
/// 14 KB CPU profiles (what 16 connections give one batch), of one label set and minute or of 16.
/// </summary>
[MemoryDiagnoser]
public class StackRowsBenchmarks
{
    private readonly StackRows _steady = new();
    private List<(ProfileMeta, RawProfile?, ReadOnlyMemory<byte>)> _oneSet = [];
    private List<(ProfileMeta, RawProfile?, ReadOnlyMemory<byte>)> _sixteenSets = [];

    [GlobalSetup]
    public void Setup()
    {
        var body = File.ReadAllBytes(Path.Combine(PprofBenchmarks.FindRoot(), "..", "shared", "testdata", "pprof", "cpu_2.pb.gz"));
        var decoder = new ProfileDecoder();
        List<(ProfileMeta, RawProfile?, ReadOnlyMemory<byte>)> Batch(Func<int, string> label) => [.. Enumerable.Range(0, 16).Select(i =>
        {
            var raw = new RawProfile();
            decoder.Load(body, raw);
            var meta = new ProfileMeta($"id{i}", "api", ProfileType.Cpu, $"pod-{i}", [new ProfileLabel("pod", label(i))], 1_764_000_000_000_000_000, body.Length, 0);
            return (meta, (RawProfile?)raw, (ReadOnlyMemory<byte>)body);
        })];
        _oneSet = Batch(_ => "all");
        _sixteenSets = Batch(i => $"pod-{i}");
        _steady.Encode(_oneSet);
        _steady.Encode(_sixteenSets);
    }

    [Benchmark]
    public int SixteenProfilesOfOneLabelSet() => _steady.Encode(_oneSet).Samples.Written.Length;

    [Benchmark]
    public int SixteenProfilesOfSixteenLabelSets() => _steady.Encode(_sixteenSets).Samples.Written.Length;
}
