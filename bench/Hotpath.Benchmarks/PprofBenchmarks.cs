using BenchmarkDotNet.Attributes;
using Hotpath.Pprof;
using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Proto;

namespace Hotpath.Benchmarks;

/// <summary>The pprof hot paths: decoding a received profile, and decoding plus folding 1,000 of them.</summary>
[MemoryDiagnoser]
public class PprofBenchmarks
{
    private readonly ProfileDecoder _decoder = new();
    private byte[] _cpu = [];
    private byte[][] _thousand = [];
    private Profile _merged = new();
    private Hotpath.Pprof.Pyroscope.Querier.SelectMergeStacktracesResponse _flameMessage = new();

    [GlobalSetup]
    public void Setup()
    {
        var corpus = Path.Combine(FindRoot(), "..", "shared", "testdata", "pprof");
        _cpu = File.ReadAllBytes(Path.Combine(corpus, "cpu_2.pb.gz"));
        var inputs = new[] { "cpu_1.pb.gz", "cpu_2.pb.gz", "cpu_3.pb.gz" }.Select(f => File.ReadAllBytes(Path.Combine(corpus, f))).ToArray();
        _thousand = [.. Enumerable.Range(0, 1000).Select(i => inputs[i % inputs.Length])];
        _merged = MergeThousand();
        var flame = PyroscopeFlameGraphOfMerged();
        _flameMessage = new()
        {
            Flamegraph = new()
            {
                Total = flame.Total, MaxSelf = flame.MaxSelf, Names = { flame.Names },
                Levels = { flame.Levels.Select(l => new Hotpath.Pprof.Pyroscope.Querier.Level { Values = { l } }) },
            },
        };
    }

    /// <summary>What every POST pays: gunzip, parse and validate a real 14 KB CPU profile.</summary>
    [Benchmark]
    public ProfileSummary InspectCpuProfile() => _decoder.Inspect(_cpu);

    /// <summary>The same profile into the generated model, as tools read it.</summary>
    [Benchmark]
    public Profile DecodeCpuProfileToModel() => _decoder.Decode(_cpu);

    /// <summary>The merge endpoint without storage and HTTP: 1,000 real CPU profiles, one core.</summary>
    [Benchmark]
    public Profile MergeThousand()
    {
        var merger = new ProfileMerger();
        var raw = new RawProfile();
        foreach (var body in _thousand)
        {
            _decoder.Load(body, raw);
            merger.Add(raw);
        }

        return merger.Build();
    }

    /// <summary>Writing the merged result as gzip.</summary>
    [Benchmark]
    public byte[] EncodeMerged() => ProfileEncoder.ToGzipBytes(_merged);

    /// <summary>Grafana's flame graph of the merge (SelectMergeStacktraces without the merge): the tree and its levels.</summary>
    [Benchmark]
    public PyroscopeFlameGraph PyroscopeFlameGraphOfMerged() => PyroscopeFlameGraph.Of(_merged, 1);

    /// <summary>The same flame graph as the query service answers it in Connect JSON, as Drilldown asks.</summary>
    [Benchmark]
    public string PyroscopeFlameGraphJson() => Google.Protobuf.JsonFormatter.Default.Format(_flameMessage);

    /// <summary>The same in binary protobuf, as Grafana's data source asks.</summary>
    [Benchmark]
    public byte[] PyroscopeFlameGraphProtobuf() => Google.Protobuf.MessageExtensions.ToByteArray(_flameMessage);

    internal static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hotpath.slnx")))
                return dir.FullName;
        }

        throw new InvalidOperationException("Hotpath.slnx not found");
    }
}
