using BenchmarkDotNet.Attributes;
using Hotpath.Pprof;
using System.IO.Compression;

namespace Hotpath.Benchmarks;

[MemoryDiagnoser]
public class Breakdown
{
    private byte[] _gz = [];
    private byte[] _raw = [];
    private readonly byte[] _out = new byte[1 << 20];
    private readonly RawProfile _profile = new();
    private readonly ProfileDecoder _decoder = new();
    [GlobalSetup]
    public void Setup()
    {
        _gz = File.ReadAllBytes("/work/shared/testdata/pprof/cpu_2.pb.gz");
        _raw = File.ReadAllBytes("/work/shared/testdata/pprof/not_gzip.pb");
    }
    [Benchmark] public int Gunzip() { using var g = new GZipStream(new MemoryStream(_gz), CompressionMode.Decompress); int n = 0, r; while ((r = g.Read(_out, n, _out.Length - n)) > 0) n += r; return n; }
    [Benchmark] public int LoadPlain() { _decoder.Load(_raw, _profile); return _profile.SampleCount; }
    [Benchmark] public int LoadGzip() { _decoder.Load(_gz, _profile); return _profile.SampleCount; }
}
