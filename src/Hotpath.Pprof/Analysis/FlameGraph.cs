using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof.Analysis;

/// <summary>
/// A call tree (root first) with two value slots: the profile, and optionally a baseline for diffs.
/// Frames too small to see are folded into one "…" child per parent, so that a profile with tens of
/// thousands of distinct stacks stays a few thousand nodes.
/// </summary>
public sealed class FlameNode(string name)
{
    public const string Folded = "…";

    public string Name { get; } = name;

    public long Total { get; internal set; }

    public long Self { get; internal set; }

    public long BaselineTotal { get; internal set; }

    public long BaselineSelf { get; internal set; }

    public List<FlameNode> Children { get; } = [];

    private Dictionary<string, FlameNode>? _byName;

    internal FlameNode Child(string name)
    {
        _byName ??= new Dictionary<string, FlameNode>(StringComparer.Ordinal);
        if (!_byName.TryGetValue(name, out var child))
        {
            child = new FlameNode(name);
            _byName[name] = child;
            Children.Add(child);
        }

        return child;
    }
}

public static class FlameGraph
{
    /// <summary>The tree of one profile's sample type (and of a baseline's, for a diff).</summary>
    public static FlameNode Build(Profile profile, int sampleType, Profile? baseline = null, int baselineSampleType = -1, double minFraction = 0.0005)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var root = new FlameNode("root");
        Add(root, profile, sampleType, baseline: false);
        if (baseline is not null)
            Add(root, baseline, baselineSampleType, baseline: true);
        Prune(root, root.Total, root.BaselineTotal, minFraction);
        return root;
    }

    /// <summary>How many nodes the tree has, root included.</summary>
    public static int Count(FlameNode node) => 1 + node.Children.Sum(Count);

    private static void Add(FlameNode root, Profile profile, int sampleType, bool baseline)
    {
        var stacks = new StackResolver(profile);
        foreach (var sample in profile.Sample)
        {
            var value = sample.Value[sampleType];
            if (value == 0)
                continue;
            var frames = stacks.Frames(sample);
            var node = root;
            Credit(node, value, self: frames.Count == 0, baseline);
            for (var i = frames.Count - 1; i >= 0; i--)
            {
                node = node.Child(frames[i]);
                Credit(node, value, self: i == 0, baseline);
            }
        }
    }

    private static void Credit(FlameNode node, long value, bool self, bool baseline)
    {
        if (baseline)
        {
            node.BaselineTotal += value;
            if (self)
                node.BaselineSelf += value;
        }
        else
        {
            node.Total += value;
            if (self)
                node.Self += value;
        }
    }

    private static void Prune(FlameNode node, long total, long baselineTotal, double minFraction)
    {
        bool Tiny(FlameNode n) =>
            Math.Abs(n.Total) < minFraction * Math.Abs(total) && Math.Abs(n.BaselineTotal) <= minFraction * Math.Abs(baselineTotal);

        var tiny = node.Children.Where(Tiny).ToList();
        if (tiny.Count > 0)
        {
            node.Children.RemoveAll(c => tiny.Contains(c));
            var folded = new FlameNode(FlameNode.Folded)
            {
                Total = tiny.Sum(c => c.Total),
                Self = tiny.Sum(c => c.Total),
                BaselineTotal = tiny.Sum(c => c.BaselineTotal),
                BaselineSelf = tiny.Sum(c => c.BaselineTotal),
            };
            if (folded.Total != 0 || folded.BaselineTotal != 0)
                node.Children.Add(folded);
        }

        node.Children.Sort((a, b) => b.Total.CompareTo(a.Total) is var byTotal && byTotal != 0 ? byTotal : b.BaselineTotal.CompareTo(a.BaselineTotal));
        foreach (var child in node.Children)
        {
            if (child.Name != FlameNode.Folded)
                Prune(child, total, baselineTotal, minFraction);
        }
    }
}
