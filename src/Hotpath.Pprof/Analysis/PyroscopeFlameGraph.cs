using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof.Analysis;

/// <summary>
/// A flame graph as Grafana Pyroscope sends it (querier.v1.FlameGraph): <see cref="Names"/> (0 is "total"), and
/// per depth a level of 4 numbers a node: its x offset from the end of the node before it on the level, its
/// total, its self, its name's index. Nodes below the <c>max_nodes</c> largest are folded into one "…" node per
/// parent, so the totals stay whole.
/// </summary>
public sealed record PyroscopeFlameGraph(IReadOnlyList<string> Names, IReadOnlyList<long[]> Levels, long Total, long MaxSelf)
{
    /// <summary>Pyroscope's default when a request names no <c>max_nodes</c>.</summary>
    public const long DefaultMaxNodes = 8192;

    public static PyroscopeFlameGraph Empty { get; } = new(["total"], [[0, 0, 0, 0]], 0, 0);

    /// <summary>The flame graph of one sample type of a profile, with at most about <paramref name="maxNodes"/> nodes.</summary>
    public static PyroscopeFlameGraph Of(Profile profile, int sampleType, long maxNodes = DefaultMaxNodes)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var root = FlameGraph.Build(profile, sampleType, minFraction: 0).Root;
        if (maxNodes > 0 && FlameGraph.Count(root) > maxNodes && root.Total != 0)
            FlameGraph.Prune(root, (double)KthLargestTotal(root, (int)Math.Min(maxNodes, int.MaxValue)) / Math.Abs(root.Total));
        return Flatten(root);
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

    /// <summary>Levels by depth; within a level the nodes in x order, a child starting where its parent starts.</summary>
    private static PyroscopeFlameGraph Flatten(FlameNode root)
    {
        var names = new List<string> { "total" };
        var indices = new Dictionary<string, long>(StringComparer.Ordinal) { ["total"] = 0 };
        var levels = new List<List<long>>();
        var ends = new List<long>();
        long maxSelf = 0;
        // Depth first, children in order, so that each level's nodes come in x order.
        var pending = new Stack<(FlameNode Node, int Depth, long X)>();
        pending.Push((root, 0, 0));
        while (pending.TryPop(out var item))
        {
            var (node, depth, x) = item;
            if (levels.Count == depth)
            {
                levels.Add([]);
                ends.Add(0);
            }

            var name = depth == 0 ? "total" : node.Name;
            if (!indices.TryGetValue(name, out var index))
            {
                indices[name] = index = names.Count;
                names.Add(name);
            }

            levels[depth].AddRange([x - ends[depth], node.Total, node.Self, index]);
            ends[depth] = x + node.Total;
            maxSelf = Math.Max(maxSelf, node.Self);
            var childX = x;
            var children = new List<(FlameNode, int, long)>(node.Children.Count);
            foreach (var child in node.Children)
            {
                children.Add((child, depth + 1, childX));
                childX += child.Total;
            }

            for (var i = children.Count - 1; i >= 0; i--)
                pending.Push(children[i]);
        }

        return new PyroscopeFlameGraph(names, [.. levels.Select(l => l.ToArray())], root.Total, maxSelf);
    }
}
