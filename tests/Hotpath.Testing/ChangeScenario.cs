using Google.Protobuf;
using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Proto;

namespace Hotpath.Testing;

/// <summary>
/// A regression with a known answer, drawn from a real CPU profile: each profile's samples are drawn at random
/// from the real profile's stacks in proportion to their values, and a changed version spends
/// <c>points</c> percentage points more of them in one function, its own time (a leaf, <see cref="Leaf"/>) or
/// its callees' (<see cref="Caller"/>, a function two frames above the leaf of the stacks it is in, with no self
/// time). Everything else is drawn from the same distribution, so what differs between two versions beyond
/// the planted function is noise and the share the planted time takes from the rest.
/// </summary>
public sealed class ChangeScenario
{
    private readonly Profile _source;
    private readonly long[] _weights;
    private readonly int _index;
    private readonly StackNames _names;

    /// <param name="source">A real CPU profile (the corpus's cpu_2.pb.gz has a leaf and a caller of the shares wanted).</param>
    public ChangeScenario(Profile source)
    {
        ArgumentNullException.ThrowIfNull(source);
        _source = source;
        _index = TopTable.SampleTypeIndex(source, null);
        _weights = [.. source.Sample.Select(s => Math.Max(0, s.Value[_index]))];
        var top = TopTable.Build(source, _index);
        // The leaf nearest a 5% share, and a function with no self time two frames above the leaves of 1-30% of the time.
        Leaf = top.Rows.Where(r => r.Flat > 0).MinBy(r => Math.Abs(((double)r.Flat / top.Total) - 0.05))!.Function;
        var names = new StackNames(source);
        var twoUp = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var s = 0; s < source.Sample.Count; s++)
        {
            if (names.At(source.Sample[s], 2) is { } caller)
                twoUp[caller] = twoUp.GetValueOrDefault(caller) + _weights[s];
        }

        // Only ever two frames above the leaf (no recursion, no other stacks): its total moves by exactly what is planted.
        var onlyThere = top.Rows.Where(r => r.Flat == 0 && twoUp.GetValueOrDefault(r.Function) == r.Cumulative).Select(r => r.Function).ToHashSet(StringComparer.Ordinal);
        Caller = twoUp.Where(c => onlyThere.Contains(c.Key) && c.Value >= top.Total * 0.01 && c.Value <= top.Total * 0.3)
            .OrderBy(c => c.Key, StringComparer.Ordinal).First().Key;
        _names = names;
    }

    /// <summary>The leaf function a regression of self time is planted in.</summary>
    public string Leaf { get; }

    /// <summary>The function a regression of total (callees') time is planted in.</summary>
    public string Caller { get; }

    /// <summary>
    /// A profile of <paramref name="samples"/> samples drawn with <paramref name="random"/>; <paramref name="points"/>
    /// more percentage points of them in <paramref name="planted"/> (<see cref="Leaf"/>, <see cref="Caller"/>, or null for none).
    /// </summary>
    public Profile Draw(Random random, int samples, long timeNanos, string? planted = null, double points = 0)
    {
        ArgumentNullException.ThrowIfNull(random);
        var weights = Planted(planted, points / 100);
        var cumulative = new double[weights.Length];
        var sum = 0.0;
        for (var i = 0; i < weights.Length; i++)
            cumulative[i] = sum += weights[i];
        var counts = new long[weights.Length];
        for (var n = 0; n < samples; n++)
        {
            var at = Array.BinarySearch(cumulative, random.NextDouble() * sum);
            counts[at < 0 ? ~at : at]++;
        }

        var profile = _source.Clone();
        profile.TimeNanos = timeNanos;
        profile.Sample.Clear();
        var period = Math.Max(1, _source.Period);
        for (var i = 0; i < counts.Length; i++)
        {
            if (counts[i] == 0)
                continue;
            var sample = _source.Sample[i].Clone();
            for (var v = 0; v < sample.Value.Count; v++)
                sample.Value[v] = v == _index ? counts[i] * period : counts[i];
            profile.Sample.Add(sample);
        }

        return profile;
    }

    /// <summary>
    /// A planted rollout's writes: versions 1.4 and 1.5 on <paramref name="instances"/> instances each, a profile of
    /// 1,000 samples a minute for <paramref name="minutes"/> minutes from <paramref name="start"/>, 1.5 spending
    /// <paramref name="points"/> more in <see cref="Leaf"/>; each the profefe API's query string and the body.
    /// </summary>
    public IEnumerable<(string Query, byte[] Body)> TwoVersions(string service, DateTimeOffset start, int instances, int minutes, int seed, double points = 8)
    {
        var random = new Random(seed);
        for (var minute = 0; minute < minutes; minute++)
        {
            for (var instance = 0; instance < instances; instance++)
            {
                foreach (var version in (string[])["1.4", "1.5"])
                {
                    var at = start.AddMinutes(minute).AddSeconds(instance);
                    var profile = Draw(random, 1000, (at.UtcTicks - DateTime.UnixEpoch.Ticks) * 100, version == "1.5" ? Leaf : null, points);
                    yield return ($"service={service}&type=cpu&instance_id=i{instance}-{version}&labels=version%3D{version},host%3Dh{instance}", profile.ToByteArray());
                }
            }
        }
    }

    /// <summary>The stacks' weights with <paramref name="share"/> more of the whole in the planted function's stacks.</summary>
    private double[] Planted(string? planted, double share)
    {
        var weights = _weights.Select(w => (double)w).ToArray();
        if (planted is null || share == 0)
            return weights;
        var inPlanted = new bool[weights.Length];
        double total = 0, mine = 0;
        for (var s = 0; s < weights.Length; s++)
        {
            total += weights[s];
            inPlanted[s] = planted == Leaf ? _names.At(_source.Sample[s], 0) == planted : _names.At(_source.Sample[s], 2) == planted;
            if (inPlanted[s])
                mine += weights[s];
        }

        // x more weight in the planted stacks moves their share from m/W to (m + x)/(W + x) = m/W + share.
        var before = mine / total;
        var extra = share * total / (1 - before - share);
        for (var s = 0; s < weights.Length; s++)
        {
            if (inPlanted[s])
                weights[s] += extra * weights[s] / mine;
        }

        return weights;
    }

    /// <summary>The function name at a depth of a sample's stack (0: the leaf), inlined frames counted.</summary>
    private sealed class StackNames(Profile profile)
    {
        private readonly Dictionary<ulong, Location> _locations = profile.Location.ToDictionary(l => l.Id);
        private readonly Dictionary<ulong, string> _functions = profile.Function.ToDictionary(f => f.Id, f => profile.StringTable[(int)f.Name]);

        public string? At(Sample sample, int depth)
        {
            foreach (var id in sample.LocationId)
            {
                foreach (var line in _locations[id].Line)
                {
                    if (depth-- == 0)
                        return _functions[line.FunctionId];
                }
            }

            return null;
        }
    }
}
