using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof.Analysis;

/// <summary>
/// Turns a sample's locations into function names, leaf first, with inlined frames expanded as pprof does
/// (a location's lines are innermost first). A location without lines is named by its address.
/// </summary>
internal sealed class StackResolver
{
    private readonly Dictionary<ulong, string[]> _locations = [];

    public StackResolver(Profile profile)
    {
        var functions = profile.Function.ToDictionary(f => f.Id, f => profile.StringTable[(int)f.Name]);
        foreach (var location in profile.Location)
        {
            _locations[location.Id] = location.Line.Count == 0
                ? ["0x" + location.Address.ToString("x", System.Globalization.CultureInfo.InvariantCulture)]
                : [.. location.Line.Select(l => functions.GetValueOrDefault(l.FunctionId, "?"))];
        }
    }

    /// <summary>Each sample's frames with its value of one sample type; samples of value 0 are left out.</summary>
    public static IEnumerable<(List<string> Frames, long Value)> Values(Profile profile, int sampleType)
    {
        var stacks = new StackResolver(profile);
        foreach (var sample in profile.Sample)
        {
            var value = sample.Value[sampleType];
            if (value != 0)
                yield return (stacks.Frames(sample), value);
        }
    }

    public List<string> Frames(Sample sample)
    {
        var frames = new List<string>(sample.LocationId.Count * 2);
        foreach (var id in sample.LocationId)
            frames.AddRange(_locations[id]);
        return frames;
    }
}
