using Hotpath.Pprof.Conversions;

namespace Hotpath.Pprof.Tests;

public sealed class ConversionTests
{
    [Fact]
    public void Folded_text_reserves_what_it_builds_and_stops_at_the_limit_of_one_profile()
    {
        var text = string.Concat(Enumerable.Range(0, 100_000).Select(i => $"f{i:D7};g{i:D7};h{i:D7} 1\n"));
        var budget = new DecodeBudget(8 * 1024 * 1024, 8 * 1024 * 1024);

        using (var memory = budget.Reserve(0))
            Assert.Throws<ProfileTooLargeException>(() => FoldedProfile.Parse(text, "cpu", "nanoseconds", 10_000_000, memory: memory));
        using (var memory = budget.Reserve(0))
        {
            var small = FoldedProfile.Parse("main;work 3\nmain;idle 1\n", "cpu", "nanoseconds", 10_000_000, memory: memory);
            Assert.Equal(2, small.Sample.Count);
            Assert.InRange(budget.InUseBytes, 1, 4096);
        }

        Assert.Equal(0, budget.InUseBytes);
        Assert.Equal(300_000, FoldedProfile.Parse(text, "cpu", "nanoseconds", 10_000_000).Location.Count); // unbounded without a reservation
    }

    [Fact]
    public void Folded_stacks_become_one_sample_each_leaf_first_with_repeated_stacks_summed()
    {
        var profile = FoldedProfile.Parse("a;b;c 3\r\na;b 1\n\na;b;c 4\n", "cpu", "nanoseconds", periodNanos: 10_000_000);

        Assert.Equal([7 + 1, 80_000_000], profile.Totals());
        Assert.Equal(2, profile.Sample.Count);
        var deepest = profile.Sample.Single(s => s.LocationId.Count == 3);
        string Name(ulong location) => profile.StringTable[(int)profile.Function.Single(f => f.Id == location).Name];
        Assert.Equal(["c", "b", "a"], deepest.LocationId.Select(Name));
        Assert.Equal(3, profile.Function.Count); // one function and location per frame name
        Assert.Equal(10_000_000, profile.Period);
    }

    [Fact]
    public void Unsampled_types_keep_the_numbers_as_sent_in_one_sample_type_of_the_given_unit()
    {
        var profile = FoldedProfile.Parse("main;alloc 4096\n", "alloc_space", "bytes", periodNanos: 0);

        Assert.Equal(["alloc_space/bytes"], profile.SampleTypeNames());
        Assert.Equal([4096], profile.Totals());
    }

    [Fact]
    public void The_lines_form_counts_each_line_once()
    {
        var profile = FoldedProfile.Parse("main;sleep\nmain;sleep\nmain;work 1\n", "wall", "nanoseconds", periodNanos: 1_000_000, countsPerLine: false);

        Assert.Equal([3, 3_000_000], profile.Totals());
        Assert.Equal(2, profile.Sample.Count); // "main;work 1" is a stack whose leaf is "work 1"
    }

    [Theory]
    [InlineData("main;work\n")]
    [InlineData(" 12\n")]
    [InlineData("main -3\n")]
    [InlineData("main 0\n")]
    [InlineData("")]
    public void Text_that_is_not_folded_stacks_is_malformed(string text)
    {
        Assert.Throws<MalformedProfileException>(() => FoldedProfile.Parse(text, "cpu", "nanoseconds", 10_000_000));
    }

    [Theory]
    [InlineData("cpu/nanoseconds", ProfileType.Cpu)]
    [InlineData("wall/microseconds", ProfileType.Wall)]
    [InlineData("space/bytes", ProfileType.Heap)]
    [InlineData("inuse_space/bytes", ProfileType.Heap)]
    [InlineData("delay/nanoseconds", ProfileType.Mutex)]
    [InlineData("goroutine/count", ProfileType.Goroutine)]
    [InlineData("exceptions/count", ProfileType.Other)]
    public void A_pprof_without_a_named_type_is_typed_by_its_sample_types(string sampleType, ProfileType expected)
    {
        Assert.Equal(expected, PyroscopeTypes.FromSampleTypes(["samples", sampleType.Split('/')[0]]));
    }

    [Fact]
    public void Pyroscope_suffixes_name_hotpath_types_and_other_suffixes_are_part_of_the_app_name()
    {
        Assert.True(PyroscopeTypes.TryParseSuffix("alloc_objects", out var heap));
        Assert.True(PyroscopeTypes.TryParseSuffix("lock_duration", out var mutex));
        Assert.Equal((ProfileType.Heap, ProfileType.Mutex), (heap, mutex));
        Assert.False(PyroscopeTypes.TryParseSuffix("service", out _));
        Assert.Equal(("bytes", "nanoseconds", "count"), (PyroscopeTypes.DefaultUnit("inuse_space"), PyroscopeTypes.DefaultUnit("block_duration"), PyroscopeTypes.DefaultUnit("goroutines")));
    }
}
