using Hotpath.Pprof.Conversions;
using Hotpath.Pprof.Otlp;
using Hotpath.Testing;

namespace Hotpath.Pprof.Tests;

/// <summary>OpenTelemetry profiles turned into pprof, checked against the real Go profiles they were built from.</summary>
public sealed class OtlpConversionTests
{
    private const long Unbounded = long.MaxValue;

    private static readonly Dictionary<string, string> Shop = new() { ["service.name"] = "shop", ["service.instance.id"] = "shop-7f9", ["deployment.environment"] = "prod" };

    private static List<OtlpProfile> Convert(OtlpPayloads payloads, long maxBytes = Unbounded) =>
        OtlpProfiles.Convert(payloads.Data.ResourceProfiles, payloads.Data.Dictionary, maxBytes);

    private static Proto.Profile Pprof(OtlpProfile converted) => new ProfileDecoder().Decode(converted.Body);

    [Theory]
    [InlineData("cpu_1.pb.gz")]
    [InlineData("heap_1.pb.gz")]
    [InlineData("mutex.pb.gz")]
    [InlineData("goroutine.pb.gz")]
    public void A_go_profile_split_into_one_otlp_profile_per_sample_type_comes_back_as_one_pprof_with_its_totals_and_functions(string file)
    {
        var original = TestData.Decode(file);
        var payloads = new OtlpPayloads();
        payloads.AddPprof(payloads.Resource(Shop), original);
        Assert.Equal(original.SampleType.Count, payloads.Data.ResourceProfiles[0].ScopeProfiles[0].Profiles.Count);

        var pprof = Pprof(Assert.Single(Convert(payloads)));

        Assert.Equal(original.SampleTypeNames(), pprof.SampleTypeNames());
        Assert.Equal(TestData.Totals[file], pprof.Totals());
        Assert.Equal(original.TimeNanos, pprof.TimeNanos);
        Assert.Equal(original.Period, pprof.Period);
        // Only what the profile uses, and all of it.
        Assert.Equal(original.Function.Select(f => original.StringTable[(int)f.Name]).ToHashSet(), pprof.Function.Select(f => pprof.StringTable[(int)f.Name]).ToHashSet());
        Assert.Equal(original.Location.Count, pprof.Location.Count);
    }

    [Fact]
    public void Profiles_of_the_same_sample_type_and_time_stay_apart()
    {
        var payloads = new OtlpPayloads();
        var scope = payloads.Resource(Shop);
        payloads.AddPprof(scope, TestData.Decode("goroutine.pb.gz"));
        payloads.AddPprof(scope, TestData.Decode("goroutine.pb.gz"));

        Assert.Equal([[28], [28]], Convert(payloads).Select(p => Pprof(p).Totals()));
    }

    [Fact]
    public void The_resource_gives_the_service_and_instance_and_the_resource_and_scope_attributes_the_labels()
    {
        var payloads = new OtlpPayloads();
        payloads.AddPprof(payloads.Resource(Shop, "go.opentelemetry.io/ebpf-profiler", "v0.0.202547"), TestData.Decode("goroutine.pb.gz"));

        var converted = Assert.Single(Convert(payloads));

        Assert.Equal("shop", converted.Service);
        Assert.Equal("shop-7f9", converted.InstanceId);
        Assert.Equal(
            [("deployment.environment", "prod"), ("otel.scope.name", "go.opentelemetry.io/ebpf-profiler"), ("otel.scope.version", "v0.0.202547")],
            converted.Labels.Select(l => (l.Key, l.Value)).Order());
    }

    [Fact]
    public void A_resource_without_a_service_name_is_the_unknown_service_of_its_executable()
    {
        var payloads = new OtlpPayloads();
        payloads.AddPprof(payloads.Resource(new Dictionary<string, string> { ["process.executable.name"] = "nginx" }), TestData.Decode("goroutine.pb.gz"));
        payloads.AddPprof(payloads.Resource(new Dictionary<string, string> { ["host.name"] = "node-1" }), TestData.Decode("goroutine.pb.gz"));

        Assert.Equal(["unknown_service:nginx", "unknown_service"], Convert(payloads).Select(p => p.Service));
    }

    [Fact]
    public void Ebpf_cpu_samples_counted_by_timestamps_gain_their_cpu_time_and_keep_frames_mappings_and_thread_labels()
    {
        var payloads = new OtlpPayloads();
        payloads.AddEbpfCpu(payloads.Resource(Shop), [(["main", "serve", "checksum"], 30), (["main", "serve", "render"], 10)],
            periodNanos: 50_000_000, timeUnixNano: 1_764_000_000_000_000_000);

        var pprof = Pprof(Assert.Single(Convert(payloads)));

        Assert.Equal(["samples/count", "cpu/nanoseconds"], pprof.SampleTypeNames());
        Assert.Equal([40, 40 * 50_000_000L], pprof.Totals());
        Assert.Equal(1_764_000_000_000_000_000, pprof.TimeNanos);
        var hottest = pprof.Sample.MaxBy(s => s.Value[0])!;
        string Name(ulong location) =>
            pprof.StringTable[(int)pprof.Function.Single(f => f.Id == pprof.Location.Single(l => l.Id == location).Line[0].FunctionId).Name];
        Assert.Equal(["checksum", "serve", "main"], hottest.LocationId.Select(Name));
        var mapping = Assert.Single(pprof.Mapping);
        Assert.Equal("/usr/bin/shop", pprof.StringTable[(int)mapping.Filename]);
        Assert.Equal("8a3f2c1d0e9b", pprof.StringTable[(int)mapping.BuildId]);
        Assert.True(mapping.HasFunctions);
        Assert.All(pprof.Sample, s => Assert.Equal(("thread.name", "worker"),
            (pprof.StringTable[(int)s.Label.Single().Key], pprof.StringTable[(int)s.Label.Single().Str])));
    }

    [Fact]
    public void A_profile_that_carries_its_original_pprof_is_stored_as_that_pprof()
    {
        var original = TestData.Bytes("cpu_2.pb.gz");
        var payloads = new OtlpPayloads();
        var scope = payloads.Resource(Shop);
        payloads.AddEbpfCpu(scope, [(["main"], 1)], 10_000_000, 1);
        scope.Profiles[0].OriginalPayloadFormat = "pprof";
        scope.Profiles[0].OriginalPayload = Google.Protobuf.ByteString.CopyFrom(original);

        Assert.Equal(original, Assert.Single(Convert(payloads)).Body);
    }

    [Fact]
    public void Profiles_without_samples_are_left_out()
    {
        var payloads = new OtlpPayloads();
        payloads.Resource(Shop).Profiles.Add(new Profile { SampleType = new Otlp.ValueType { TypeStrindex = payloads.String("samples") } });

        Assert.Empty(Convert(payloads));
    }

    [Fact]
    public void Per_observation_values_are_summed_and_must_pair_with_their_timestamps()
    {
        var payloads = new OtlpPayloads();
        var profile = payloads.AddEbpfCpu(payloads.Resource(Shop), [(["main", "alloc"], 2)], 10_000_000, 1);
        profile.SampleType.TypeStrindex = payloads.String("alloc_space");
        profile.SampleType.UnitStrindex = payloads.String("bytes");
        profile.Samples[0].Values.AddRange([4096, 512]);

        Assert.Equal([4608], Pprof(Assert.Single(Convert(payloads))).Totals());

        profile.Samples[0].Values.Add(1);
        var refused = Assert.Throws<MalformedProfileException>(() => Convert(payloads));
        Assert.Contains("3 values and 2 timestamps", refused.Message);
    }

    [Theory]
    [InlineData("stack")]
    [InlineData("location")]
    [InlineData("function")]
    [InlineData("mapping")]
    [InlineData("string")]
    [InlineData("attribute")]
    public void An_index_outside_the_dictionary_is_malformed_naming_the_table(string table)
    {
        var payloads = new OtlpPayloads();
        var profile = payloads.AddEbpfCpu(payloads.Resource(Shop), [(["main", "work"], 3)], 10_000_000, 1);
        var dictionary = payloads.Dictionary;
        var location = dictionary.LocationTable[dictionary.StackTable[profile.Samples[0].StackIndex].LocationIndices[0]];
        switch (table)
        {
            case "stack": profile.Samples[0].StackIndex = 99; break;
            case "location": dictionary.StackTable[profile.Samples[0].StackIndex].LocationIndices[0] = -1; break;
            case "function": location.Lines[0].FunctionIndex = 1_000; break;
            case "mapping": location.MappingIndex = 77; break;
            case "string": dictionary.FunctionTable[location.Lines[0].FunctionIndex].NameStrindex = 5_000; break;
            case "attribute": profile.Samples[0].AttributeIndices.Add(42); break;
        }

        var refused = Assert.Throws<MalformedProfileException>(() => Convert(payloads));
        Assert.StartsWith($"{table} index ", refused.Message);
    }

    [Fact]
    public void A_small_request_that_names_one_long_stack_from_many_samples_stops_at_the_memory_limit()
    {
        var payloads = new OtlpPayloads();
        var frames = Enumerable.Range(0, 2_000).Select(i => $"f{i}").ToArray();
        var profile = payloads.AddEbpfCpu(payloads.Resource(Shop), [(frames, 1)], 10_000_000, 1);
        for (var i = 0; i < 10_000; i++)
        {
            // 10,000 samples of 2,000 frames, each its own attribute so that none combine: 160 MB of pprof model from a few hundred KB.
            var sample = profile.Samples[0].Clone();
            payloads.Dictionary.AttributeTable.Add(new KeyValueAndUnit { KeyStrindex = payloads.String("request"), Value = new AnyValue { IntValue = i } });
            sample.AttributeIndices.Add(payloads.Dictionary.AttributeTable.Count - 1);
            profile.Samples.Add(sample);
        }

        var refused = Assert.Throws<ProfileTooLargeException>(() => Convert(payloads, maxBytes: 64L * 1024 * 1024));
        Assert.Equal(ProfileLimit.DecodedMemory, refused.Limit);
    }
}
