using Google.Protobuf;
using Hotpath.Pprof.Proto;
using Hotpath.Testing;

namespace Hotpath.Pprof.Tests;

public sealed class ProfileDecoderTests
{
    private readonly ProfileDecoder _decoder = new();

    public static TheoryData<string> CorpusWithTotals => [.. TestData.Totals.Keys];

    [Theory]
    [MemberData(nameof(CorpusWithTotals))]
    public void Every_real_go_profile_decodes_with_the_totals_its_readme_gives(string file)
    {
        var profile = _decoder.Decode(TestData.Bytes(file));

        Assert.Equal(TestData.Totals[file], profile.Totals());
        Assert.NotEqual(0, profile.TimeNanos);
    }

    [Fact]
    public void A_plain_protobuf_profile_decodes_like_its_gzipped_twin()
    {
        var plain = _decoder.Decode(TestData.Bytes("not_gzip.pb"));
        var gzipped = _decoder.Decode(TestData.Bytes("cpu_2.pb.gz"));

        Assert.False(ProfileDecoder.IsGzip(TestData.Bytes("not_gzip.pb")));
        Assert.Equal(gzipped, plain);
    }

    [Theory]
    [InlineData("garbage.bin")]
    [InlineData("truncated.pb.gz")]
    [InlineData("trace.out")]
    public void Bytes_that_are_not_a_profile_are_malformed(string file)
    {
        Assert.Throws<MalformedProfileException>(() => _decoder.Decode(TestData.Bytes(file)));
    }

    [Fact]
    public void An_empty_body_is_malformed()
    {
        var e = Assert.Throws<MalformedProfileException>(() => _decoder.Decode(ReadOnlyMemory<byte>.Empty));
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void A_well_formed_profile_without_samples_is_refused_for_having_no_samples()
    {
        var e = Assert.Throws<MalformedProfileException>(() => _decoder.Decode(TestData.Bytes("cpu_empty.pb.gz")));
        Assert.Contains("no samples", e.Message);
    }

    [Fact]
    public void A_gzip_bomb_stops_at_the_decompressed_cap()
    {
        var small = new ProfileDecoder(maxDecompressedBytes: 1024 * 1024);

        var e = Assert.ThrowsAny<Exception>(() => small.Decode(TestData.Bytes("gzip_bomb.gz")));

        // 2 GiB of zeros is either cut at the cap or refused as soon as a zero tag is parsed.
        Assert.True(e is ProfileTooLargeException or MalformedProfileException, e.GetType().Name);
    }

    [Fact]
    public void A_real_profile_larger_than_the_cap_is_too_large()
    {
        var tiny = new ProfileDecoder(maxDecompressedBytes: 1000);

        var e = Assert.Throws<ProfileTooLargeException>(() => tiny.Decode(TestData.Bytes("cpu_1.pb.gz")));
        Assert.Equal(1000, e.LimitBytes);
        Assert.Throws<ProfileTooLargeException>(() => tiny.Decode(TestData.Bytes("not_gzip.pb")));
    }

    [Theory]
    [InlineData("strings")]
    [InlineData("locations")]
    public void Ten_million_tiny_elements_stop_at_the_decode_memory_limit_and_give_their_reservation_back(string kind)
    {
        var budget = new DecodeBudget(totalBytes: 1L << 30, perProfileBytes: 32L * 1024 * 1024);
        var decoder = new ProfileDecoder(maxDecompressedBytes: 64L * 1024 * 1024, budget);
        var body = kind == "strings" ? HostileProfiles.EmptyStrings(10_000_000) : HostileProfiles.LocationReferences(10_000_000);

        var e = Assert.Throws<ProfileTooLargeException>(() => decoder.Decode(body));

        Assert.Equal(ProfileLimit.DecodedMemory, e.Limit);
        Assert.Equal(32L * 1024 * 1024, e.LimitBytes);
        Assert.Equal(0, budget.InUseBytes);
    }

    [Fact]
    public void Decodes_in_flight_share_one_budget_and_one_past_it_is_refused_until_memory_is_given_back()
    {
        var big = ProfileEncoder.ToGzipBytes(SyntheticProfiles.ManyStacks(20_000));
        var measure = new DecodeBudget(1L << 30, 1L << 30);
        var held = new RawProfile();
        new ProfileDecoder(budget: measure).Load(big, held);
        var needed = measure.InUseBytes;
        ProfileDecoder.Release(held);

        var budget = new DecodeBudget(needed + 16 * 1024, needed + 16 * 1024);
        var decoder = new ProfileDecoder(budget: budget);
        var first = new RawProfile();
        decoder.Load(big, first);
        Assert.Equal(needed, budget.InUseBytes);

        var second = new RawProfile();
        var refused = Assert.Throws<DecodeBudgetExhaustedException>(() => decoder.Load(TestData.Bytes("cpu_1.pb.gz"), second));
        ProfileDecoder.Release(second);
        ProfileDecoder.Release(first);
        decoder.Load(TestData.Bytes("cpu_1.pb.gz"), second); // the first one's garbage is collected to make room

        Assert.Equal(needed + 16 * 1024, refused.TotalBytes);
        Assert.Equal(TestData.Totals["cpu_1.pb.gz"][1], second.Total(1));
        ProfileDecoder.Release(second);
        Assert.Equal(0, budget.InUseBytes);
    }

    [Fact]
    public void A_sample_pointing_at_a_missing_location_is_malformed()
    {
        var p = Valid();
        p.Sample[0].LocationId.Add(99);

        AssertMalformed(p, "unknown location 99");
    }

    [Fact]
    public void A_location_pointing_at_a_missing_function_is_malformed()
    {
        var p = Valid();
        p.Location[0].Line.Add(new Line { FunctionId = 42 });

        AssertMalformed(p, "unknown function 42");
    }

    [Fact]
    public void A_location_pointing_at_a_missing_mapping_is_malformed()
    {
        var p = Valid();
        p.Location[0].MappingId = 7;

        AssertMalformed(p, "unknown mapping 7");
    }

    [Fact]
    public void A_string_index_out_of_range_is_malformed()
    {
        var p = Valid();
        p.Function[0].Name = 1000;

        AssertMalformed(p, "out of range");
    }

    [Fact]
    public void A_sample_with_the_wrong_number_of_values_is_malformed()
    {
        var p = Valid();
        p.Sample[0].Value.Add(5);

        AssertMalformed(p, "2 values for 1 sample types");
    }

    [Fact]
    public void A_string_table_not_starting_with_the_empty_string_is_malformed()
    {
        var p = Valid();
        p.StringTable[0] = "x";

        AssertMalformed(p, "string_table[0]");
    }

    [Fact]
    public void Repeated_ids_are_malformed()
    {
        var p = Valid();
        p.Function.Add(new Function { Id = 1 });

        AssertMalformed(p, "function id 1");
    }

    [Fact]
    public void Corrupted_profiles_fail_as_malformed_and_never_with_another_exception()
    {
        var original = TestData.Bytes("not_gzip.pb");
        var random = new Random(1234);
        var raw = new RawProfile();
        var malformed = 0;
        for (var i = 0; i < 3000; i++)
        {
            var corrupt = (byte[])original.Clone();
            for (var flips = random.Next(1, 4); flips > 0; flips--)
                corrupt[random.Next(corrupt.Length)] = (byte)random.Next(256);
            var cut = random.Next(4) == 0 ? random.Next(corrupt.Length) + 1 : corrupt.Length;

            try
            {
                _decoder.Load(corrupt.AsMemory(0, cut), raw);
                new ProfileMerger().Add(raw); // whatever validation let through must merge without a lookup failing
            }
            catch (MalformedProfileException)
            {
                malformed++;
            }
        }

        Assert.InRange(malformed, 100, 3000);
    }

    [Fact]
    public void A_hand_built_valid_profile_decodes()
    {
        Assert.Equal([7L], _decoder.Decode(Valid().ToByteArray()).Totals());
    }

    private void AssertMalformed(Profile p, string reason)
    {
        var e = Assert.Throws<MalformedProfileException>(() => _decoder.Decode(ProfileEncoder.ToGzipBytes(p)));
        Assert.Contains(reason, e.Message);
    }

    internal static Profile Valid()
    {
        var p = new Profile { StringTable = { "", "samples", "count", "main" } };
        p.SampleType.Add(new Proto.ValueType { Type = 1, Unit = 2 });
        p.Function.Add(new Function { Id = 1, Name = 3 });
        p.Location.Add(new Location { Id = 1, Line = { new Line { FunctionId = 1, Line_ = 10 } } });
        p.Sample.Add(new Sample { LocationId = { 1 }, Value = { 7 } });
        return p;
    }
}
