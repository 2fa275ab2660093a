using Hotpath.Pprof.Analysis;
using Hotpath.Testing;

namespace Hotpath.Pprof.Tests;

public sealed class AnalysisTests
{
    [Fact]
    public void Top_flat_values_sum_to_the_total_and_cumulative_counts_a_function_once_per_sample()
    {
        var profile = TestData.Decode("cpu_1.pb.gz");

        var top = TopTable.Build(profile, 1);

        Assert.Equal(TestData.Totals["cpu_1.pb.gz"][1], top.Total);
        Assert.Equal(top.Total, top.Rows.Sum(r => r.Flat));
        Assert.All(top.Rows, r => Assert.InRange(r.Cumulative, r.Flat, top.Total));
        Assert.Equal("crypto/sha256.block", top.Rows[0].Function);
    }

    [Fact]
    public void Top_rows_carry_the_source_file_the_profile_gives_their_function()
    {
        var profile = TestData.Decode("cpu_1.pb.gz");

        var top = TopTable.Build(profile, 1);

        Assert.Equal("/usr/lib/go-1.19/src/crypto/sha256/sha256block_amd64.s", top.Rows[0].File);
        Assert.Equal("/usr/lib/go-1.19/src/crypto/sha256/sha256.go", top.Rows.Single(r => r.Function == "crypto/sha256.(*digest).Write").File);
    }

    [Fact]
    public void The_default_sample_type_is_the_last_unless_the_profile_names_one()
    {
        var heap = TestData.Decode("heap_1.pb.gz");

        Assert.Equal(3, TopTable.SampleTypeIndex(heap, null));
        Assert.Equal(1, TopTable.SampleTypeIndex(heap, "alloc_space"));
        Assert.Throws<ArgumentException>(() => TopTable.SampleTypeIndex(heap, "bogus"));
    }

    [Fact]
    public void Folded_stacks_start_at_the_root_and_sum_to_the_total()
    {
        var profile = TestData.Decode("cpu_2.pb.gz");

        var lines = TopTable.Folded(profile, 0).ToList();

        Assert.Equal(TestData.Totals["cpu_2.pb.gz"][0], lines.Sum(l => long.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)));
        var names = profile.Function.ToDictionary(f => f.Id, f => profile.StringTable[(int)f.Name]);
        var outermost = profile.Sample.Select(s => profile.Location.First(l => l.Id == s.LocationId[^1]).Line[^1].FunctionId).Select(id => names[id]).ToHashSet();
        Assert.All(lines, l => Assert.Contains(l[..l.LastIndexOf(' ')].Split(';')[0], outermost));
    }

    [Fact]
    public void The_flame_tree_keeps_every_value_and_totals_add_up_at_each_level()
    {
        var profile = TestData.Decode("cpu_3.pb.gz");

        var root = FlameGraph.Build(profile, 1, minFraction: 0).Root;

        Assert.Equal(TestData.Totals["cpu_3.pb.gz"][1], root.Total);
        Check(root);

        static void Check(FlameNode node)
        {
            Assert.Equal(node.Total, node.Self + node.Children.Sum(c => c.Total));
            node.Children.ForEach(Check);
        }
    }

    [Fact]
    public void Fifty_thousand_distinct_stacks_fold_into_a_tree_small_enough_to_draw()
    {
        var profile = SyntheticProfiles.ManyStacks(50_000);

        var root = FlameGraph.Build(profile, 0).Root;

        Assert.Equal(profile.Totals()[0], root.Total);
        Assert.InRange(FlameGraph.Count(root), 10, 5_000);
        Assert.Contains(root.Children.SelectMany(c => c.Children), n => n.Name == FlameNode.Folded);
    }

    [Fact]
    public void A_diff_tree_carries_both_selections()
    {
        var before = TestData.Decode("cpu_1.pb.gz");
        var after = TestData.Decode("cpu_3.pb.gz");

        var root = FlameGraph.Build(after, 1, before, 1).Root;

        Assert.Equal(TestData.Totals["cpu_3.pb.gz"][1], root.Total);
        Assert.Equal(TestData.Totals["cpu_1.pb.gz"][1], root.BaselineTotal);
    }

    [Fact]
    public void A_stack_of_fifteen_thousand_frames_is_folded_below_the_depth_limit_without_recursion()
    {
        var profile = SyntheticProfiles.DeepStack(15_000);

        var tree = FlameGraph.Build(profile, 0, profile, 0);

        Assert.Equal(2, tree.DeepStacks); // the profile's sample and the baseline's
        var node = tree.Root;
        var depth = 0;
        while (node.Children.Count > 0)
        {
            node = Assert.Single(node.Children);
            depth++;
            if (depth < tree.DepthLimit)
                Assert.Equal($"frame{15_001 - depth}", node.Name);
        }

        Assert.Equal(FlameGraph.DefaultDepthLimit, depth);
        Assert.Equal(FlameGraph.Deeper, node.Name);
        Assert.Equal((10, 10, 10, 10), (node.Total, node.Self, node.BaselineTotal, node.BaselineSelf));
        Assert.Equal(FlameGraph.DefaultDepthLimit + 1, FlameGraph.Count(tree.Root));
    }

    [Fact]
    public void The_one_pass_view_gives_the_same_tree_and_tables_as_building_each_alone()
    {
        var after = TestData.Decode("cpu_2.pb.gz");
        var before = TestData.Decode("cpu_1.pb.gz");

        var view = ProfileView.Build(after, 1, before, 1);

        static string Shape(FlameNode n) => $"{n.Name}:{n.Total}/{n.Self}/{n.BaselineTotal}/{n.BaselineSelf}({string.Join(',', n.Children.Select(Shape))})";
        Assert.Equal(Shape(FlameGraph.Build(after, 1, before, 1).Root), Shape(view.Flame.Root));
        Assert.Equal(TopTable.Build(after, 1).Rows, view.Top.Rows);
        Assert.Equal(TopTable.Build(before, 1).Rows, view.BaselineTop!.Rows);
    }

    [Fact]
    public void A_sandwich_of_a_recursive_function_counts_each_sample_once_from_its_outermost_call()
    {
        // main -> f -> f -> g (5), main -> h -> f (3), main -> g (2).
        var profile = Conversions.FoldedProfile.Parse("main;f;f;g 5\nmain;h;f 3\nmain;g 2\n", "samples", "count", periodNanos: 0);

        var sandwich = Sandwich.Build(profile, 0, "f", minFraction: 0);

        Assert.Equal((8L, 3L), (sandwich.Total, sandwich.Self));
        Assert.Equal("f", sandwich.Callers.Root.Name);
        Assert.Equal([("main", 5L), ("h", 3L)], sandwich.Callers.Root.Children.Select(c => (c.Name, c.Total)));
        Assert.Equal("main", sandwich.Callers.Root.Children[1].Children.Single().Name);
        Assert.Equal([("f", 5L)], sandwich.Callees.Root.Children.Select(c => (c.Name, c.Total)));
        Assert.Equal("g", sandwich.Callees.Root.Children[0].Children.Single().Name);
    }

    [Fact]
    public void A_sample_selection_keeps_the_chosen_samples_groups_the_rest_and_leaves_the_profile_as_it_was()
    {
        var (body, hash, sort) = LabeledProfiles.Workers(DateTimeOffset.UnixEpoch);
        var profile = new ProfileDecoder().Decode(body);
        var samples = profile.Sample.Count;

        var both = new SampleSelection([KeyValuePair.Create("worker", "hash"), KeyValuePair.Create("worker", "sort")]).Apply(profile);
        var one = new SampleSelection([KeyValuePair.Create("worker", "sort")]).Apply(profile);
        var grouped = new SampleSelection([], "worker").Apply(profile);
        var missing = new SampleSelection([], "thread").Apply(profile);

        Assert.Equal(hash + sort, both.Totals()[1]);
        Assert.Equal(sort, one.Totals()[1]);
        Assert.Equal([("worker=hash", hash), ("worker=sort", sort)],
            FlameGraph.Build(grouped, 1, minFraction: 0).Root.Children.Select(c => (c.Name, c.Total)).OrderBy(c => c.Name));
        Assert.Equal("thread=(none)", FlameGraph.Build(missing, 1).Root.Children.Single().Name);
        Assert.Equal(samples, profile.Sample.Count);
        Assert.Equal(TestData.Totals["cpu_1.pb.gz"], profile.Totals());
        Assert.DoesNotContain(profile.StringTable, s => s.StartsWith("worker=", StringComparison.Ordinal));
    }
}
