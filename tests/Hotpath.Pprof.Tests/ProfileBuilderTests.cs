namespace Hotpath.Pprof.Tests;

public sealed class ProfileBuilderTests
{
    [Fact]
    public void Values_of_the_same_stack_and_label_are_summed_and_other_labels_kept_apart()
    {
        var builder = new ProfileBuilder([("alloc_objects", "count"), ("alloc_space", "bytes")], ("space", "bytes"), 512 * 1024);
        ProfileFrame[] stack = [new("Alloc", "a.cs", 10, 12), new("Main", "m.cs", 1, 3)];

        builder.Add(stack, [1, 100], "type", "String");
        builder.Add(stack, [2, 200], "type", "String");
        builder.Add(stack, [4, 400], "type", "Byte[]");
        var profile = builder.Build();

        Assert.Equal(2, profile.Sample.Count);
        Assert.Equal([3, 300], profile.Sample[0].Value);
        Assert.Equal([4, 400], profile.Sample[1].Value);
        Assert.Equal(2, profile.Location.Count);
        Assert.Equal(512 * 1024, profile.Period);
        Assert.Equal([7L, 700L], profile.Totals());
    }

    [Fact]
    public void A_function_is_one_however_many_of_its_lines_the_samples_were_at()
    {
        var builder = new ProfileBuilder([("samples", "count")]);

        builder.Add([new ProfileFrame("Work", "w.cs", 5, 6)], [1]);
        builder.Add([new ProfileFrame("Work", "w.cs", 5, 9)], [1]);
        var profile = builder.Build();

        Assert.Equal(2, profile.Location.Count);
        Assert.Single(profile.Function);
        Assert.Null(profile.PeriodType);
    }

    [Fact]
    public void A_frame_known_by_name_only_is_one_location_whether_given_as_text_or_as_a_frame()
    {
        var builder = new ProfileBuilder([("samples", "count")]);

        var byText = builder.Location("main.work".AsSpan());
        var byFrame = builder.Location(new ProfileFrame("main.work"));
        builder.AddSample([byText], [1]);
        builder.AddSample([byFrame], [2]);

        Assert.Equal(byText, byFrame);
        Assert.Equal(2, builder.SampleCount); // samples added as they are, not summed
    }

    [Fact]
    public void What_it_builds_is_reserved_against_the_decode_limit()
    {
        var budget = new DecodeBudget(1 << 20, perProfileBytes: 64 * 1024);
        using var memory = budget.Reserve(0);
        var builder = new ProfileBuilder([("samples", "count")], memory: memory);

        // 1,000 functions and locations take more than 64 KB.
        Assert.Throws<ProfileTooLargeException>(() =>
        {
            for (var i = 0; i < 1000; i++)
                builder.AddSample([builder.Location($"f{i}".AsSpan())], [1]);
        });
    }
}
