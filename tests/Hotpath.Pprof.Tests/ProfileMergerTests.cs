using Google.Protobuf;
using Hotpath.Pprof.Proto;
using Hotpath.Testing;

namespace Hotpath.Pprof.Tests;

public sealed class ProfileMergerTests
{
    private static Profile Merge(params IEnumerable<Profile> profiles)
    {
        var merger = new ProfileMerger();
        foreach (var p in profiles)
            merger.Add(p);
        return merger.Build();
    }

    [Fact]
    public void Merging_three_real_cpu_profiles_sums_every_sample_type()
    {
        var merged = Merge(TestData.CpuProfiles.Select(TestData.Decode));

        Assert.Equal(TestData.Sum(TestData.CpuProfiles.Select(f => TestData.Totals[f])), merged.Totals());
        Assert.Equal(["samples/count", "cpu/nanoseconds"], merged.SampleTypeNames());
    }

    [Fact]
    public void Merging_two_real_heap_profiles_sums_all_four_sample_types()
    {
        var merged = Merge(TestData.HeapProfiles.Select(TestData.Decode));

        Assert.Equal(TestData.Sum(TestData.HeapProfiles.Select(f => TestData.Totals[f])), merged.Totals());
        Assert.Equal(4, merged.SampleType.Count);
    }

    [Theory]
    [InlineData("cpu_1.pb.gz")]
    [InlineData("heap_1.pb.gz")]
    [InlineData("block.pb.gz")]
    [InlineData("mutex.pb.gz")]
    [InlineData("goroutine.pb.gz")]
    [InlineData("threadcreate.pb.gz")]
    public void Merging_a_profile_with_itself_doubles_every_value_and_keeps_its_shape(string file)
    {
        var single = Merge(TestData.Decode(file));
        var doubled = Merge(TestData.Decode(file), TestData.Decode(file));

        Assert.Equal(single.Totals().Select(v => v * 2), doubled.Totals());
        Assert.Equal(single.Sample.Count, doubled.Sample.Count);
        Assert.Equal(single.Location.Count, doubled.Location.Count);
        Assert.Equal(single.Function.Count, doubled.Function.Count);
        Assert.Equal(single.Mapping.Count, doubled.Mapping.Count);
        for (var i = 0; i < single.Sample.Count; i++)
            Assert.Equal(single.Sample[i].Value.Select(v => v * 2), doubled.Sample[i].Value);
    }

    [Fact]
    public void Merging_one_profile_keeps_every_stack_with_the_same_names()
    {
        var original = TestData.Decode("cpu_2.pb.gz");
        var merged = Merge(TestData.Decode("cpu_2.pb.gz"));

        Assert.Equal(Stacks(original), Stacks(merged));
    }

    [Fact]
    public void Profiles_with_different_sample_types_are_refused()
    {
        var merger = new ProfileMerger();
        merger.Add(TestData.Decode("cpu_1.pb.gz"));

        var e = Assert.Throws<IncompatibleProfilesException>(() => merger.Add(TestData.Decode("heap_1.pb.gz")));
        Assert.Contains("cpu/nanoseconds", e.Message);
    }

    [Fact]
    public void Profiles_with_different_period_types_are_refused()
    {
        var a = ProfileDecoderTests.Valid();
        var b = ProfileDecoderTests.Valid();
        b.StringTable.Add("wall");
        b.PeriodType = new Proto.ValueType { Type = 4, Unit = 2 };

        var merger = new ProfileMerger();
        merger.Add(a);
        Assert.Throws<IncompatibleProfilesException>(() => merger.Add(b));
    }

    [Fact]
    public void The_merged_profile_round_trips_through_gzip_and_validation()
    {
        var merged = Merge(TestData.CpuProfiles.Select(TestData.Decode));

        var bytes = ProfileEncoder.ToGzipBytes(merged);
        var again = new ProfileDecoder().Decode(bytes);

        Assert.True(ProfileDecoder.IsGzip(bytes));
        Assert.Equal(merged, again);
    }

    [Fact]
    public void Ids_are_renumbered_from_one_in_first_seen_order()
    {
        var merged = Merge(TestData.CpuProfiles.Select(TestData.Decode));

        Assert.Equal(Enumerable.Range(1, merged.Location.Count).Select(i => (ulong)i), merged.Location.Select(l => l.Id));
        Assert.Equal(Enumerable.Range(1, merged.Function.Count).Select(i => (ulong)i), merged.Function.Select(f => f.Id));
        Assert.Equal(Enumerable.Range(1, merged.Mapping.Count).Select(i => (ulong)i), merged.Mapping.Select(m => m.Id));
    }

    [Fact]
    public void Overlapping_profiles_share_functions_rather_than_repeat_them()
    {
        var merged = Merge(TestData.Decode("cpu_1.pb.gz"), TestData.Decode("cpu_3.pb.gz"));

        var names = merged.Function.Select(f => (merged.StringTable[(int)f.Name], merged.StringTable[(int)f.Filename], f.StartLine)).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.True(merged.StringTable.Count == merged.StringTable.Distinct().Count(), "strings are interned once");
    }

    [Fact]
    public void Header_takes_the_earliest_time_the_summed_duration_and_the_largest_period()
    {
        var inputs = TestData.CpuProfiles.Select(TestData.Decode).ToList();
        inputs[1].Period = inputs[0].Period * 3;

        var merged = Merge(inputs);

        Assert.Equal(inputs.Min(p => p.TimeNanos), merged.TimeNanos);
        Assert.Equal(inputs.Sum(p => p.DurationNanos), merged.DurationNanos);
        Assert.Equal(inputs[1].Period, merged.Period);
    }

    [Fact]
    public void A_zero_time_does_not_count_as_the_earliest()
    {
        var a = TestData.Decode("cpu_1.pb.gz");
        var b = TestData.Decode("cpu_2.pb.gz");
        a.TimeNanos = 0;

        Assert.Equal(b.TimeNanos, Merge(a, b).TimeNanos);
    }

    [Fact]
    public void Comments_are_kept_once_each()
    {
        var a = ProfileDecoderTests.Valid();
        a.StringTable.Add("note");
        a.Comment.Add(4);
        var b = ProfileDecoderTests.Valid();
        b.StringTable.Add("other");
        b.StringTable.Add("note");
        b.Comment.Add(5);
        b.Comment.Add(4);

        var merged = Merge(a, b);

        Assert.Equal(["note", "other"], merged.Comment.Select(c => merged.StringTable[(int)c]));
    }

    [Fact]
    public void Samples_whose_values_are_all_zero_are_dropped()
    {
        var p = ProfileDecoderTests.Valid();
        p.Sample.Add(new Sample { LocationId = { 1 }, Value = { 0 }, Label = { new Label { Key = 3, Str = 1 } } });

        var merged = Merge(p);

        Assert.Single(merged.Sample);
    }

    [Fact]
    public void Samples_that_cancel_out_are_dropped()
    {
        var plus = ProfileDecoderTests.Valid();
        var minus = ProfileDecoderTests.Valid();
        minus.Sample[0].Value[0] = -7;

        Assert.Empty(Merge(plus, minus).Sample);
    }

    [Fact]
    public void Samples_with_different_labels_stay_apart_and_label_order_does_not_matter()
    {
        var p = ProfileDecoderTests.Valid();
        p.StringTable.Add("k1");    // 4
        p.StringTable.Add("k2");    // 5
        p.StringTable.Add("v");     // 6
        p.Sample.Clear();
        p.Sample.Add(new Sample { LocationId = { 1 }, Value = { 1 }, Label = { new Label { Key = 4, Str = 6 }, new Label { Key = 5, Num = 3 } } });
        p.Sample.Add(new Sample { LocationId = { 1 }, Value = { 2 }, Label = { new Label { Key = 5, Num = 3 }, new Label { Key = 4, Str = 6 } } });
        p.Sample.Add(new Sample { LocationId = { 1 }, Value = { 4 }, Label = { new Label { Key = 4, Str = 1 } } });
        p.Sample.Add(new Sample { LocationId = { 1 }, Value = { 8 } });

        var merged = Merge(p);

        Assert.Equal([3L, 4, 8], merged.Sample.Select(s => s.Value[0]).Order());
        Assert.Contains(merged.Sample, s => s.Label.Count == 2 && s.Value[0] == 3);
    }

    [Fact]
    public void The_same_binary_loaded_at_another_address_merges_by_relative_address()
    {
        var a = WithMapping(start: 0x400000, address: 0x401234);
        var b = WithMapping(start: 0x7f0000, address: 0x7f1234);

        var merged = Merge(a, b);

        var location = Assert.Single(merged.Location);
        Assert.Single(merged.Mapping);
        Assert.Equal(0x401234UL, location.Address);
        Assert.Equal([14L], merged.Totals());
    }

    [Fact]
    public void The_first_mapping_stays_the_main_binary()
    {
        var p = WithMapping(start: 0x400000, address: 0x401234);
        p.StringTable.Add("libc.so");
        // The only sample lives in the second mapping; the main binary must still come first.
        p.Mapping.Add(new Mapping { Id = 2, MemoryStart = 0x9000000, MemoryLimit = 0x9100000, Filename = p.StringTable.Count - 1 });
        p.Location[0].MappingId = 2;
        p.Location[0].Address = 0x9000010;

        var merged = Merge(p);

        Assert.Equal("app", merged.StringTable[(int)merged.Mapping[0].Filename]);
        Assert.Equal(2UL, merged.Location[0].MappingId);
    }

    [Fact]
    public void Memory_follows_distinct_content_not_the_number_of_inputs()
    {
        var merger = new ProfileMerger();
        var files = TestData.CpuProfiles.Select(TestData.Bytes).ToArray();
        var decoder = new ProfileDecoder();
        for (var i = 0; i < 300; i++)
            merger.Add(decoder.Decode(files[i % files.Length]));

        var merged = merger.Build();
        var three = Merge(TestData.CpuProfiles.Select(TestData.Decode));

        Assert.Equal(300, merger.Count);
        Assert.Equal(three.Sample.Count, merged.Sample.Count);
        Assert.Equal(three.Location.Count, merged.Location.Count);
        Assert.Equal(three.Totals().Select(v => v * 100), merged.Totals());
    }

    [Fact]
    public void Building_before_adding_anything_is_an_error()
    {
        Assert.Throws<InvalidOperationException>(() => new ProfileMerger().Build());
    }

    private static Profile WithMapping(ulong start, ulong address)
    {
        var p = ProfileDecoderTests.Valid();
        p.StringTable.Add("app");
        p.Mapping.Add(new Mapping { Id = 1, MemoryStart = start, MemoryLimit = start + 0x100000, Filename = p.StringTable.Count - 1 });
        p.Location[0].MappingId = 1;
        p.Location[0].Address = address;
        return p;
    }

    /// <summary>Each sample as its stack of function names (leaf first) with its values.</summary>
    private static List<string> Stacks(Profile p)
    {
        var functions = p.Function.ToDictionary(f => f.Id, f => p.StringTable[(int)f.Name]);
        var locations = p.Location.ToDictionary(l => l.Id, l => string.Join("|", l.Line.Select(line => functions[line.FunctionId])));
        return [.. p.Sample.Select(s => string.Join(";", s.LocationId.Select(id => locations[id])) + " " + string.Join(",", s.Value)).Order()];
    }

    [Fact]
    public void ScaleN_rounds_each_column_by_its_ratio_and_drops_samples_left_all_zero()
    {
        var profile = TestData.Decode("heap_1.pb.gz");
        var before = profile.Totals();
        var samples = profile.Sample.Count;

        profile.ScaleN([1, 1, 0, 0]);

        Assert.Equal([before[0], before[1], 0, 0], profile.Totals());
        Assert.All(profile.Sample, s => Assert.Contains(s.Value, v => v != 0));
        Assert.True(profile.Sample.Count <= samples);
        profile.ScaleN([0, 0, 0, 0]);
        Assert.Empty(profile.Sample);
    }

    [Theory]
    [InlineData("inuse_space", true)]
    [InlineData("inuse_objects", true)]
    [InlineData("goroutine", true)]
    [InlineData("threadcreate", true)]
    [InlineData("alloc_space", false)]
    [InlineData("cpu", false)]
    [InlineData("contentions", false)]
    public void Snapshots_are_gauges_and_events_are_not(string sampleType, bool gauge) =>
        Assert.Equal(gauge, Aggregations.IsGauge(sampleType));

    [Fact]
    public void A_heap_delta_keeps_what_is_in_use_and_counts_only_what_was_allocated_since_the_previous_snapshot()
    {
        var previous = TestData.Decode("heap_1.pb.gz");
        var current = previous.Clone();
        current.ScaleN([2, 2, 1, 1]); // twice the allocations since start, the same in use
        current.TimeNanos = previous.TimeNanos + 60_000_000_000;
        var totals = previous.Totals();

        var delta = CumulativeDelta.Since(current, previous);

        Assert.Equal(totals, delta.Totals());
        Assert.Equal(60_000_000_000, delta.DurationNanos);
        Assert.Equal(current.TimeNanos, delta.TimeNanos);
        Assert.Equal([0, 0, totals[2], totals[3]], CumulativeDelta.Since(previous, null).Totals());
        // After a restart the counts fell: everything since the restart is new.
        Assert.Equal(totals, CumulativeDelta.Since(previous, current).Totals());
    }

    [Theory]
    [InlineData("cpu_1.pb.gz", "cpu_2.pb.gz", "cpu_3.pb.gz")]
    [InlineData("heap_1.pb.gz", "heap_2.pb.gz")]
    [InlineData("block.pb.gz")]
    [InlineData("mutex.pb.gz")]
    [InlineData("goroutine.pb.gz")]
    [InlineData("threadcreate.pb.gz")]
    public void The_merge_written_from_its_tables_is_byte_for_byte_the_built_profile_encoded(params string[] files)
    {
        var merger = new ProfileMerger();
        foreach (var file in files)
            merger.Add(TestData.Decode(file));
        merger.Add(WithEveryOptionalField(TestData.Decode(files[0])));

        var built = merger.Build().ToByteArray();

        Assert.Equal(built, merger.ToBytes());
        Assert.Equal(built, new ProfileDecoder().Decode(merger.ToGzipBytes()).ToByteArray());
    }

    [Fact]
    public void Adding_a_merger_is_adding_each_of_its_profiles_in_any_order_of_tables()
    {
        var profiles = TestData.CpuProfiles.Select(TestData.Decode).Append(WithEveryOptionalField(TestData.Decode("cpu_1.pb.gz"))).ToList();
        var one = new ProfileMerger();
        profiles.ForEach(one.Add);
        var (first, second) = (new ProfileMerger(), new ProfileMerger());
        profiles.Take(2).ToList().ForEach(first.Add);
        profiles.Skip(2).ToList().ForEach(second.Add);

        var both = new ProfileMerger();
        both.Add(first);
        both.Add(second);

        Assert.Equal(CanonicalProfile.Of(one.Build()), CanonicalProfile.Of(both.Build()));
        Assert.Equal(profiles.Count, both.Count);
    }

    [Theory]
    [InlineData("cpu_1.pb.gz", "cpu_2.pb.gz", "cpu_3.pb.gz")]
    [InlineData("heap_1.pb.gz", "heap_2.pb.gz")]
    [InlineData("block.pb.gz", "mutex.pb.gz")]
    [InlineData("goroutine.pb.gz")]
    public void Adding_a_merger_is_byte_for_byte_adding_its_merged_profile_scaled_or_not(params string[] files)
    {
        // Mergers that saw different profiles first: their ids differ, and labels sort by each one's string ids.
        var profiles = files.Select(TestData.Decode).Append(WithEveryOptionalField(TestData.Decode(files[0]))).ToList();
        var (first, second) = (new ProfileMerger(), new ProfileMerger());
        profiles.Where((_, i) => i % 2 == 0).ToList().ForEach(first.Add);
        profiles.Where((_, i) => i % 2 == 1).Reverse().ToList().ForEach(second.Add);
        // Gauges averaged over 3 snapshots, the rest kept: some values round, some samples end at zero.
        var ratios = Aggregations.GaugeColumns(first.Build()).Select(gauge => gauge ? 1.0 / 3 : 1.0).ToArray();
        ratios[0] = 1.0 / 7;

        var (direct, encoded) = (new ProfileMerger(), new ProfileMerger());
        direct.Add(second);
        direct.Add(first, ratios);
        encoded.Add(second.Build());
        var scaled = first.Build();
        scaled.ScaleN(ratios);
        encoded.Add(scaled);

        Assert.Equal(encoded.ToBytes(), direct.ToBytes());
        Assert.Equal(profiles.Count, direct.Count);
        Assert.Equal(first.SampleTypeNames, scaled.SampleType.Select(t => scaled.StringTable[(int)t.Type]));
    }

    [Fact]
    public void A_merger_of_other_sample_types_is_refused_and_one_cannot_add_itself()
    {
        var (cpu, heap) = (new ProfileMerger(), new ProfileMerger());
        cpu.Add(TestData.Decode("cpu_1.pb.gz"));
        heap.Add(TestData.Decode("heap_1.pb.gz"));

        Assert.Throws<IncompatibleProfilesException>(() => cpu.Add(heap));
        Assert.Throws<ArgumentException>(() => cpu.Add(cpu));
    }

    /// <summary>The profile with a string and a numeric label on each sample, a comment and a doc link.</summary>
    private static Profile WithEveryOptionalField(Profile profile)
    {
        var strings = profile.StringTable;
        long Index(string s)
        {
            strings.Add(s);
            return strings.Count - 1;
        }

        var (key, value, bytes, unit) = (Index("span"), Index("checkout"), Index("size"), Index("bytes"));
        foreach (var sample in profile.Sample)
        {
            sample.Label.Add(new Label { Key = bytes, Num = 4096, NumUnit = unit });
            sample.Label.Add(new Label { Key = key, Str = value });
        }

        profile.Comment.Add(Index("merged for a test"));
        profile.DocUrl = Index("https://example.com/doc");
        return profile;
    }
}
