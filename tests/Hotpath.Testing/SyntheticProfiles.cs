using Hotpath.Pprof.Proto;

namespace Hotpath.Testing;

/// <summary>Profiles made up for scale tests: many distinct stacks over a pool of function names.</summary>
public static class SyntheticProfiles
{
    /// <summary>A CPU-like profile with exactly <paramref name="stacks"/> distinct stacks of depth 8.</summary>
    public static Profile ManyStacks(int stacks, long timeNanos = 0, int seed = 7)
    {
        var random = new Random(seed);
        var p = new Profile { StringTable = { "", "samples", "count" }, TimeNanos = timeNanos };
        p.SampleType.Add(new Pprof.Proto.ValueType { Type = 1, Unit = 2 });
        const int Functions = 2000;
        for (var f = 1; f <= Functions; f++)
        {
            p.StringTable.Add($"pkg{f % 40}.Type{f % 97}.Method{f}");
            p.Function.Add(new Function { Id = (ulong)f, Name = p.StringTable.Count - 1 });
            p.Location.Add(new Location { Id = (ulong)f, Line = { new Line { FunctionId = (ulong)f } } });
        }

        var seen = new HashSet<string>();
        while (p.Sample.Count < stacks)
        {
            // A few hot roots, then random frames: a wide, realistic-looking tree.
            var ids = new ulong[8];
            ids[7] = (ulong)random.Next(1, 4);
            for (var d = 6; d >= 0; d--)
                ids[d] = (ulong)(Math.Pow(random.NextDouble(), 4) * Functions) + 1; // skewed: some frames are hot

            if (!seen.Add(string.Join(',', ids)))
                continue;
            var sample = new Sample { Value = { random.Next(1, 100) } };
            sample.LocationId.AddRange(ids);
            p.Sample.Add(sample);
        }

        return p;
    }

    /// <summary>One sample whose stack is <paramref name="depth"/> distinct frames deep (hostile: far past any real stack).</summary>
    public static Profile DeepStack(int depth, long value = 10)
    {
        var p = new Profile { StringTable = { "", "samples", "count" } };
        p.SampleType.Add(new Pprof.Proto.ValueType { Type = 1, Unit = 2 });
        var sample = new Sample { Value = { value } };
        for (var f = 1; f <= depth; f++)
        {
            p.StringTable.Add($"frame{f}");
            p.Function.Add(new Function { Id = (ulong)f, Name = p.StringTable.Count - 1 });
            p.Location.Add(new Location { Id = (ulong)f, Line = { new Line { FunctionId = (ulong)f } } });
            sample.LocationId.Add((ulong)f);
        }

        p.Sample.Add(sample);
        return p;
    }
}
