using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof.Analysis;

/// <summary>
/// A flame graph as Grafana Pyroscope sends it (querier.v1.FlameGraph): <see cref="Names"/> (0 is "total"), and
/// per depth a level of 4 numbers a node: its x offset from the end of the node before it on the level, its
/// total, its self, its name's index. Nodes below the <c>max_nodes</c> largest are folded into one "…" node per
/// parent, so the totals stay whole.
/// </summary>
/// <param name="LeftTotal">A diff's: the left (baseline) profile's total; <see cref="Total"/> is then the right's.</param>
public sealed record PyroscopeFlameGraph(IReadOnlyList<string> Names, IReadOnlyList<long[]> Levels, long Total, long MaxSelf, long LeftTotal = 0)
{
    /// <summary>Pyroscope's default when a request names no <c>max_nodes</c>.</summary>
    public const long DefaultMaxNodes = 8192;

    public static PyroscopeFlameGraph Empty { get; } = new(["total"], [[0, 0, 0, 0]], 0, 0);

    /// <summary>The flame graph of one sample type of a profile, with at most about <paramref name="maxNodes"/> nodes.</summary>
    public static PyroscopeFlameGraph Of(Profile profile, int sampleType, long maxNodes = DefaultMaxNodes)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var root = FlameGraph.Build(profile, sampleType, minFraction: 0).Root;
        Cap(root, maxNodes);
        return Flatten(root, diff: false);
    }

    /// <summary>
    /// Pyroscope's diff flame graph (querier.v1.FlameGraphDiff): 7 numbers a node, the left (baseline) profile's
    /// offset, total and self, then the right's, then the name's index; nodes of either side, by name.
    /// </summary>
    public static PyroscopeFlameGraph Diff(Profile left, int leftSampleType, Profile right, int rightSampleType, long maxNodes = DefaultMaxNodes)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        var root = FlameGraph.Build(right, rightSampleType, left, leftSampleType, minFraction: 0).Root;
        Cap(root, maxNodes);
        return Flatten(root, diff: true);
    }

    private static void Cap(FlameNode root, long maxNodes)
    {
        if (maxNodes > 0 && FlameGraph.Count(root) > maxNodes && root.Total != 0)
            FlameGraph.Prune(root, (double)KthLargestTotal(root, (int)Math.Min(maxNodes, int.MaxValue)) / Math.Abs(root.Total));
    }

    private static long KthLargestTotal(FlameNode root, int k)
    {
        var totals = new List<long>();
        var pending = new Stack<FlameNode>();
        pending.Push(root);
        while (pending.TryPop(out var node))
        {
            totals.Add(Math.Abs(node.Total));
            foreach (var child in node.Children)
                pending.Push(child);
        }

        totals.Sort((a, b) => b.CompareTo(a));
        return totals[Math.Min(k, totals.Count) - 1];
    }

    /// <summary>Levels by depth; within a level the nodes in x order, a child starting where its parent starts (on each side, for a diff).</summary>
    private static PyroscopeFlameGraph Flatten(FlameNode root, bool diff)
    {
        var names = new List<string> { "total" };
        var indices = new Dictionary<string, long>(StringComparer.Ordinal) { ["total"] = 0 };
        var levels = new List<List<long>>();
        var ends = new List<(long Left, long Right)>();
        long maxSelf = 0;
        // Depth first, children in order, so that each level's nodes come in x order.
        var pending = new Stack<(FlameNode Node, int Depth, long LeftX, long RightX)>();
        pending.Push((root, 0, 0, 0));
        while (pending.TryPop(out var item))
        {
            var (node, depth, leftX, rightX) = item;
            if (levels.Count == depth)
            {
                levels.Add([]);
                ends.Add((0, 0));
            }

            var name = depth == 0 ? "total" : node.Name;
            if (!indices.TryGetValue(name, out var index))
            {
                indices[name] = index = names.Count;
                names.Add(name);
            }

            if (diff)
                levels[depth].AddRange([leftX - ends[depth].Left, node.BaselineTotal, node.BaselineSelf, rightX - ends[depth].Right, node.Total, node.Self, index]);
            else
                levels[depth].AddRange([rightX - ends[depth].Right, node.Total, node.Self, index]);
            ends[depth] = (leftX + node.BaselineTotal, rightX + node.Total);
            maxSelf = Math.Max(maxSelf, Math.Max(node.Self, diff ? node.BaselineSelf : 0));
            var (childLeft, childRight) = (leftX, rightX);
            var children = new List<(FlameNode, int, long, long)>(node.Children.Count);
            foreach (var child in node.Children)
            {
                children.Add((child, depth + 1, childLeft, childRight));
                (childLeft, childRight) = (childLeft + child.BaselineTotal, childRight + child.Total);
            }

            for (var i = children.Count - 1; i >= 0; i--)
                pending.Push(children[i]);
        }

        return new PyroscopeFlameGraph(names, [.. levels.Select(l => l.ToArray())], root.Total, maxSelf, root.BaselineTotal);
    }
}
