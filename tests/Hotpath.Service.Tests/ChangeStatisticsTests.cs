using Hotpath.Pprof.Analysis;
using Hotpath.Pprof.Proto;
using Hotpath.Service.Query.Changes;
using Hotpath.Testing;

namespace Hotpath.Service.Tests;

public sealed class ChangeStatisticsTests
{
    private const int Seeds = 20;
    private const int Intervals = 30;

    // An interval of ten instances' minute profiles of 1,000 samples each (10 s at 100 Hz).
    private const int SamplesPerInterval = 10_000;

    private static readonly ChangeScenario Scenario = new(TestData.Decode("cpu_2.pb.gz"));

    [Fact]
    public void Welch_test_gives_the_textbook_p_value_of_two_samples_of_unequal_variance()
    {
        double[] a = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4];
        double[] b = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4];

        // t = 2.455, 24.99 degrees of freedom: p = 0.02138 (integrated independently of the library used here).
        Assert.Equal(0.021378, WelchTest.PValue(Moments.Of(a), Moments.Of(b)), 5);
        Assert.Equal(1, WelchTest.PValue(Moments.Of(a), Moments.Of([3.0])));
    }

    [Fact]
    public void Holm_correction_multiplies_each_p_value_by_the_tests_left_and_keeps_their_order()
    {
        double[] p = [0.01, 0.04, 0.03, 0.005];

        WelchTest.Holm(p);

        Assert.Equal([0.03, 0.06, 0.06, 0.02], p.Select(v => Math.Round(v, 10)));
    }

    [Fact]
    public void A_leaf_that_takes_eight_points_more_ranks_first_with_high_confidence_on_every_seed()
    {
        var detected = 0;
        for (var seed = 0; seed < Seeds; seed++)
        {
            var random = new Random(seed);
            var (changes, _) = Compare(Draw(random, null), Draw(random, Scenario.Leaf));

            var first = changes[0];
            if (first.Function == Scenario.Leaf && first.Kind == ChangeKind.Regression && first.Regressed
                && Math.Abs(first.Self.Points - 8) < 1 && first.Self.PValue < 1e-6)
            {
                detected++;
            }
        }

        Assert.Equal(Seeds, detected);
    }

    [Fact]
    public void Two_halves_of_one_version_report_no_regression_on_any_seed()
    {
        var falsePositives = 0;
        for (var seed = 0; seed < Seeds; seed++)
        {
            var random = new Random(1000 + seed);
            var (changes, compared) = Compare(Draw(random, null), Draw(random, null));

            Assert.True(compared > 50);
            falsePositives += changes.Count(c => c.Regressed);
        }

        Assert.Equal(0, falsePositives);
    }

    [Fact]
    public void A_function_whose_callees_take_more_is_reported_by_its_total_not_its_self_time()
    {
        var random = new Random(5);

        var (changes, _) = Compare(Draw(random, null), Draw(random, Scenario.Caller));

        var caller = Assert.Single(changes, c => c.Function == Scenario.Caller);
        Assert.Equal(ChangeKind.Regression, caller.Kind);
        Assert.True(caller.Regressed);
        Assert.InRange(caller.Total.Points, 7, 9);
        Assert.True(caller.Total.PValue < 1e-6);
        Assert.Equal(0, caller.Self.BaselineShare);
        Assert.Equal(0, caller.Self.TargetShare);
    }

    [Fact]
    public void Values_per_second_are_the_unit_over_the_seconds_of_the_intervals()
    {
        var random = new Random(9);

        var (changes, _) = Compare(Draw(random, null), Draw(random, Scenario.Leaf));

        // 10,000 samples of 10 ms a minute: 1.67 CPU-seconds per second, the leaf's share of it on each side.
        var leaf = changes.Single(c => c.Function == Scenario.Leaf);
        Assert.Equal(leaf.Self.BaselineShare * SamplesPerInterval * 1e7 / 60, leaf.Self.BaselinePerSecond, 1e-6 * leaf.Self.BaselinePerSecond);
        Assert.Equal(leaf.Self.TargetShare * SamplesPerInterval * 1e7 / 60, leaf.Self.TargetPerSecond, 1e-6 * leaf.Self.TargetPerSecond);
    }

    private static (IReadOnlyList<FunctionChange> Changes, int Compared) Compare(List<IntervalValues> baseline, List<IntervalValues> target) =>
        ChangeStatistics.Compare(baseline, target, new ChangeCriteria(), new Dictionary<string, string>());

    private static List<IntervalValues> Draw(Random random, string? planted) =>
        [.. Enumerable.Range(0, Intervals).Select(i => Interval(Scenario.Draw(random, SamplesPerInterval, i, planted, planted is null ? 0 : 8)))];

    private static IntervalValues Interval(Profile profile) => IntervalValues.Of(TopTable.Build(profile, TopTable.SampleTypeIndex(profile, null)), 60);
}
