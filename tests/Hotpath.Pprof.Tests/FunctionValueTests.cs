using Hotpath.Pprof.Analysis;
using Hotpath.Testing;

namespace Hotpath.Pprof.Tests;

public sealed class FunctionValueTests
{
    [Theory]
    [InlineData("cpu_1.pb.gz")]
    [InlineData("cpu_2.pb.gz")]
    [InlineData("heap_1.pb.gz")]
    public void One_function_s_value_is_its_flat_and_cumulative_value_of_the_top_table(string file)
    {
        var profile = TestData.Decode(file);
        var index = TopTable.SampleTypeIndex(profile, null);
        var top = TopTable.Build(profile, index);

        Assert.All(top.Rows.Take(30), row =>
        {
            Assert.Equal(row.Flat, FunctionValue.Of(profile, index, f => f == row.Function, self: true));
            Assert.Equal(row.Cumulative, FunctionValue.Of(profile, index, f => f == row.Function, self: false));
        });
    }

    [Fact]
    public void A_sample_with_several_picked_frames_counts_once()
    {
        var profile = TestData.Decode("cpu_2.pb.gz");
        var index = TopTable.SampleTypeIndex(profile, null);
        var top = TopTable.Build(profile, index);

        Assert.Equal(top.Total, FunctionValue.Of(profile, index, _ => true, self: false));
        Assert.Equal(top.Total, FunctionValue.Of(profile, index, _ => true, self: true));
        Assert.Equal(0, FunctionValue.Of(profile, index, _ => false, self: false));
        // Go's runtime and main both sit on most stacks: together they are no more than the profile.
        var runtimeOrMain = FunctionValue.Of(profile, index, f => f.StartsWith("runtime.", StringComparison.Ordinal) || f.StartsWith("main.", StringComparison.Ordinal), self: false);
        Assert.InRange(runtimeOrMain, top.Rows.Where(r => r.Function.StartsWith("main.", StringComparison.Ordinal)).Max(r => r.Cumulative), top.Total);
    }
}
