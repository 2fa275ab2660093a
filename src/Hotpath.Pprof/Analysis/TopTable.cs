using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof.Analysis;

/// <summary>One function's row of a top table, as <c>go tool pprof -top</c> prints it.</summary>
/// <param name="Flat">Value of samples whose leaf frame is this function.</param>
/// <param name="Cumulative">Value of samples with this function anywhere on the stack (counted once per sample).</param>
/// <param name="File">The function's source file, or empty when the profile does not say.</param>
public sealed record TopRow(string Function, long Flat, long Cumulative, string File = "");

/// <summary>Per-function flat and cumulative totals of one sample type, and folded stacks.</summary>
public sealed class TopTable
{
    private TopTable(string sampleType, string unit, long total, IReadOnlyList<TopRow> rows)
    {
        SampleType = sampleType;
        Unit = unit;
        Total = total;
        Rows = rows;
    }

    public string SampleType { get; }

    public string Unit { get; }

    /// <summary>The sum of the sample type over all samples.</summary>
    public long Total { get; }

    /// <summary>Functions by descending flat value, then cumulative, then name.</summary>
    public IReadOnlyList<TopRow> Rows { get; }

    /// <summary>
    /// The index of the sample type called <paramref name="name"/>; without a name, pprof's default: the
    /// profile's default_sample_type, else the last one.
    /// </summary>
    public static int SampleTypeIndex(Profile profile, string? name)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var wanted = string.IsNullOrEmpty(name) ? profile.StringTable[(int)profile.DefaultSampleType] : name;
        if (wanted.Length == 0)
            return profile.SampleType.Count - 1;
        for (var i = 0; i < profile.SampleType.Count; i++)
        {
            if (profile.StringTable[(int)profile.SampleType[i].Type] == wanted)
                return i;
        }

        throw new ArgumentException(
            $"no sample type \"{wanted}\"; the profile has {string.Join(", ", profile.SampleType.Select(t => profile.StringTable[(int)t.Type]))}");
    }

    public static TopTable Build(Profile profile, int sampleType)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var top = new TopAccumulator();
        foreach (var (frames, value) in StackResolver.Values(profile, sampleType))
            top.Add(frames, value);
        return top.ToTable(profile, sampleType);
    }

    internal static TopTable Of(Profile profile, int sampleType, long total, IReadOnlyList<TopRow> rows)
    {
        var type = profile.SampleType[sampleType];
        return new TopTable(profile.StringTable[(int)type.Type], profile.StringTable[(int)type.Unit], total, rows);
    }

    /// <summary>Folded stacks ("root;…;leaf value"), one line per distinct stack, for flamegraph.pl and speedscope.</summary>
    public static IEnumerable<string> Folded(Profile profile, int sampleType)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var stacks = new StackResolver(profile);
        var folded = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var sample in profile.Sample)
        {
            var frames = stacks.Frames(sample);
            var line = string.Join(";", Enumerable.Range(0, frames.Count).Select(i => frames[frames.Count - 1 - i].Replace(';', ':')));
            folded[line] = folded.GetValueOrDefault(line) + sample.Value[sampleType];
        }

        return folded.Where(f => f.Value != 0).OrderBy(f => f.Key, StringComparer.Ordinal)
            .Select(f => f.Key + " " + f.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}

/// <summary>A top table as stacks are added to it, one at a time: for views that read each sample once.</summary>
internal sealed class TopAccumulator
{
    private readonly Dictionary<string, long> _flat = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _cumulative = new(StringComparer.Ordinal);
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private long _total;

    /// <summary>Adds a stack (leaf first) and its value.</summary>
    public void Add(List<string> frames, long value)
    {
        _total += value;
        if (frames.Count == 0)
            return;
        _flat[frames[0]] = _flat.GetValueOrDefault(frames[0]) + value;
        _seen.Clear();
        foreach (var frame in frames)
        {
            if (_seen.Add(frame))
                _cumulative[frame] = _cumulative.GetValueOrDefault(frame) + value;
        }
    }

    public TopTable ToTable(Profile profile, int sampleType)
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var function in profile.Function)
        {
            if (function.Filename != 0)
                files.TryAdd(profile.StringTable[(int)function.Name], profile.StringTable[(int)function.Filename]);
        }

        var rows = _cumulative
            .Select(c => new TopRow(c.Key, _flat.GetValueOrDefault(c.Key), c.Value, files.GetValueOrDefault(c.Key, "")))
            .OrderByDescending(r => Math.Abs(r.Flat)).ThenByDescending(r => Math.Abs(r.Cumulative)).ThenBy(r => r.Function, StringComparer.Ordinal)
            .ToList();
        return TopTable.Of(profile, sampleType, _total, rows);
    }
}
