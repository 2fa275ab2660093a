using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof.Analysis;

/// <summary>
/// One function in context, as Pyroscope's and Datadog's sandwich views show it: its callers as a tree from
/// the function up to the roots, and its callees as a tree from the function down to the leaves, over the
/// samples that have it on the stack. A recursive function counts from its outermost call, so no sample is
/// counted twice.
/// </summary>
public sealed record Sandwich(FlameTree Callers, FlameTree Callees, long Total, long Self)
{
    public static Sandwich Build(Profile profile, int sampleType, string function, double minFraction = 0.0005)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(function);
        var callers = new FlameBuilder();
        var callees = new FlameBuilder();
        long self = 0;
        var upward = new List<string>();
        foreach (var (frames, value) in StackResolver.Values(profile, sampleType))
        {
            var outermost = frames.LastIndexOf(function);
            if (outermost < 0)
                continue;
            if (frames[0] == function)
                self += value;
            // Leaf first: frames[0..outermost] end at the function, which becomes the callees' root.
            callees.Add(frames, outermost + 1, value, baseline: false);
            // The callers' tree is rooted at the function too, and grows toward the roots of the stacks.
            upward.Clear();
            for (var i = frames.Count - 1; i >= outermost; i--)
                upward.Add(frames[i]);
            callers.Add(upward, upward.Count, value, baseline: false);
        }

        var callerTree = callers.Finish(minFraction);
        return new Sandwich(Single(callerTree), Single(callees.Finish(minFraction)), callerTree.Root.Total, self);
    }

    /// <summary>The tree under its one child, the function, so that the function is the root.</summary>
    private static FlameTree Single(FlameTree tree) =>
        tree.Root.Children is [var only] ? tree with { Root = only } : tree;
}
