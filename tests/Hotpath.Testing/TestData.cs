using Hotpath.Pprof;
using Hotpath.Pprof.Proto;

namespace Hotpath.Testing;

/// <summary>The real Go profiles in ../shared/testdata/pprof, beside the project root.</summary>
public static class TestData
{
    private static readonly Lazy<string> RootDirectory = new(FindRoot);

    /// <summary>The project root: the folder holding Hotpath.slnx.</summary>
    public static string ProjectRoot => RootDirectory.Value;

    /// <summary>The build configuration of this test build (bin/&lt;Configuration&gt;/net10.0), for the builds of other projects beside it.</summary>
    public static string Configuration => new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;

    public static string Directory => Path.Combine(ProjectRoot, "..", "shared", "testdata", "pprof");

    public static string PathOf(string name) => Path.Combine(Directory, name);

    public static byte[] Bytes(string name) => File.ReadAllBytes(PathOf(name));

    public static Profile Decode(string name) => new ProfileDecoder().Decode(Bytes(name));

    public static IReadOnlyList<string> CpuProfiles { get; } = ["cpu_1.pb.gz", "cpu_2.pb.gz", "cpu_3.pb.gz"];

    public static IReadOnlyList<string> HeapProfiles { get; } = ["heap_1.pb.gz", "heap_2.pb.gz"];

    /// <summary>Every valid pprof file of the corpus with its type.</summary>
    public static IReadOnlyList<(string File, string Type)> ValidProfiles { get; } =
    [
        ("cpu_1.pb.gz", "cpu"), ("cpu_2.pb.gz", "cpu"), ("cpu_3.pb.gz", "cpu"),
        ("heap_1.pb.gz", "heap"), ("heap_2.pb.gz", "heap"), ("block.pb.gz", "block"),
        ("mutex.pb.gz", "mutex"), ("goroutine.pb.gz", "goroutine"), ("threadcreate.pb.gz", "threadcreate"),
        ("not_gzip.pb", "cpu"),
    ];

    /// <summary>The totals the corpus README gives, per sample type.</summary>
    public static IReadOnlyDictionary<string, long[]> Totals { get; } = new Dictionary<string, long[]>
    {
        ["cpu_1.pb.gz"] = [309, 3_090_000_000],
        ["cpu_2.pb.gz"] = [564, 5_640_000_000],
        ["cpu_3.pb.gz"] = [467, 4_670_000_000],
        ["heap_1.pb.gz"] = [359071, 21702893, 58282, 2783888],
        ["heap_2.pb.gz"] = [169394, 16697279, 156869, 12369203],
        ["block.pb.gz"] = [888, 7555427635],
        ["mutex.pb.gz"] = [460, 1645502333],
        ["goroutine.pb.gz"] = [28],
        ["threadcreate.pb.gz"] = [5],
    };

    /// <summary>Element-wise sum of several totals.</summary>
    public static long[] Sum(IEnumerable<long[]> totals)
    {
        long[]? sum = null;
        foreach (var t in totals)
        {
            sum ??= new long[t.Length];
            for (var i = 0; i < t.Length; i++)
                sum[i] += t[i];
        }

        return sum ?? [];
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hotpath.slnx")))
                return dir.FullName;
        }

        throw new InvalidOperationException("Hotpath.slnx not found above " + AppContext.BaseDirectory);
    }
}
