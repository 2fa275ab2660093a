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

/// <summary>A flame graph's tree and what was folded to keep it within its depth limit.</summary>
/// <param name="DepthLimit">The most frames below the root the tree has; deeper frames are folded.</param>
/// <param name="DeepStacks">How many samples had more frames than that.</param>
public sealed record FlameTree(FlameNode Root, int DepthLimit, long DeepStacks);

public static class FlameGraph
{
    /// <summary>
    /// The default depth limit: deeper than a reader follows a stack, and shallow enough that nested JSON of
    /// the tree (two levels a node) stays within System.Text.Json's default limit of 1,000 levels.
    /// </summary>
    public const int DefaultDepthLimit = 400;

    /// <summary>The name of the node that stands for the frames below <see cref="FlameTree.DepthLimit"/>.</summary>
    public const string Deeper = "… deeper frames";

    /// <summary>The tree of one profile's sample type (and of a baseline's, for a diff).</summary>
    public static FlameTree Build(Profile profile, int sampleType, Profile? baseline = null, int baselineSampleType = -1,
        double minFraction = 0.0005, int depthLimit = DefaultDepthLimit)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var builder = new FlameBuilder(depthLimit);
        foreach (var (frames, value) in StackResolver.Values(profile, sampleType))
            builder.Add(frames, frames.Count, value, baseline: false);
        if (baseline is not null)
        {
            foreach (var (frames, value) in StackResolver.Values(baseline, baselineSampleType))
                builder.Add(frames, frames.Count, value, baseline: true);
        }

        return builder.Finish(minFraction);
    }

    /// <summary>How many nodes the tree has, root included.</summary>
    public static int Count(FlameNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var count = 0;
        var pending = new Stack<FlameNode>();
        pending.Push(node);
        while (pending.TryPop(out var next))
        {
            count++;
            foreach (var child in next.Children)
                pending.Push(child);
        }

        return count;
    }

    /// <summary>Folds tiny children into one "…" per parent and sorts the rest, without recursion: stacks may be deep.</summary>
    internal static void Prune(FlameNode root, double minFraction)
    {
        var total = Math.Abs(root.Total);
        var baselineTotal = Math.Abs(root.BaselineTotal);
        bool Tiny(FlameNode n) => Math.Abs(n.Total) < minFraction * total && Math.Abs(n.BaselineTotal) <= minFraction * baselineTotal;

        var pending = new Stack<FlameNode>();
        pending.Push(root);
        while (pending.TryPop(out var node))
        {
            FlameNode? folded = null;
            foreach (var child in node.Children)
            {
                if (!Tiny(child))
                    continue;
                folded ??= new FlameNode(FlameNode.Folded);
                folded.Total += child.Total;
                folded.Self += child.Total;
                folded.BaselineTotal += child.BaselineTotal;
                folded.BaselineSelf += child.BaselineTotal;
            }

            if (folded is not null)
            {
                node.Children.RemoveAll(Tiny);
                if (folded.Total != 0 || folded.BaselineTotal != 0)
                    node.Children.Add(folded);
            }

            node.Children.Sort((a, b) => b.Total.CompareTo(a.Total) is var byTotal && byTotal != 0 ? byTotal : b.BaselineTotal.CompareTo(a.BaselineTotal));
            foreach (var child in node.Children)
            {
                if (!ReferenceEquals(child, folded))
                    pending.Push(child);
            }
        }
    }
}

/// <summary>A flame tree as stacks are added to it, one at a time: for views that read each sample once.</summary>
internal sealed class FlameBuilder
{
    private readonly int _depthLimit;
    private long _deep;

    public FlameBuilder(int depthLimit = FlameGraph.DefaultDepthLimit)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(depthLimit);
        _depthLimit = depthLimit;
    }

    public FlameNode Root { get; } = new("root");

    /// <summary>Adds the first <paramref name="count"/> frames of a stack (leaf first; the tree is root first).</summary>
    public void Add(IReadOnlyList<string> frames, int count, long value, bool baseline)
    {
        if (value == 0)
            return;
        var node = Root;
        Credit(node, value, self: count == 0, baseline);
        // Past the limit the rest is one folded node.
        var shown = Math.Min(count, _depthLimit);
        for (var depth = 0; depth < shown; depth++)
        {
            var last = depth == shown - 1;
            node = node.Child(last && count > _depthLimit ? FlameGraph.Deeper : frames[count - 1 - depth]);
            Credit(node, value, self: last, baseline);
        }

        if (count > _depthLimit)
            _deep++;
    }

    public FlameTree Finish(double minFraction = 0.0005)
    {
        FlameGraph.Prune(Root, minFraction);
        return new FlameTree(Root, _depthLimit, _deep);
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
}
