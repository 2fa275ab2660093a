using Google.Protobuf;
using Hotpath.Pprof.Otlp;
using OtlpFunction = Hotpath.Pprof.Otlp.Function;
using OtlpLine = Hotpath.Pprof.Otlp.Line;
using OtlpLocation = Hotpath.Pprof.Otlp.Location;
using OtlpMapping = Hotpath.Pprof.Otlp.Mapping;
using OtlpProfile = Hotpath.Pprof.Otlp.Profile;
using OtlpSample = Hotpath.Pprof.Otlp.Sample;
using OtlpValueType = Hotpath.Pprof.Otlp.ValueType;

namespace Hotpath.Testing;

/// <summary>
/// OpenTelemetry profiles requests built from the generated OTLP types, in the shapes senders use: a real
/// pprof profile re-expressed as OTLP (one OTLP profile per sample type, one shared dictionary, as the
/// OpenTelemetry Collector's pprof translation does), and the eBPF profiler's CPU shape (samples counted
/// by timestamps, sampled every period of CPU time, native frames with mappings and build ids).
/// </summary>
public sealed class OtlpPayloads
{
    private readonly ProfilesDictionary _dictionary = new();
    private readonly Dictionary<string, int> _strings = new(StringComparer.Ordinal);
    private readonly ProfilesData _data = new();
    private readonly Dictionary<string, int> _frames = new(StringComparer.Ordinal);

    public OtlpPayloads()
    {
        // Entry 0 of every table is its zero value.
        String("");
        _dictionary.MappingTable.Add(new OtlpMapping());
        _dictionary.LocationTable.Add(new OtlpLocation());
        _dictionary.FunctionTable.Add(new OtlpFunction());
        _dictionary.LinkTable.Add(new Link());
        _dictionary.AttributeTable.Add(new KeyValueAndUnit());
        _dictionary.StackTable.Add(new Stack());
        _data.Dictionary = _dictionary;
    }

    public ProfilesDictionary Dictionary => _dictionary;

    public ProfilesData Data => _data;

    /// <summary>A resource (its attributes, <c>service.name</c> among them) with one scope, to which profiles are added.</summary>
    public ScopeProfiles Resource(IReadOnlyDictionary<string, string> attributes, string scopeName = "hotpath-tests", string scopeVersion = "1.0")
    {
        var resource = new ResourceProfiles { Resource = new Resource() };
        foreach (var (key, value) in attributes)
            resource.Resource.Attributes.Add(new KeyValue { Key = key, Value = new AnyValue { StringValue = value } });
        var scope = new ScopeProfiles { Scope = new InstrumentationScope { Name = scopeName, Version = scopeVersion } };
        resource.ScopeProfiles.Add(scope);
        _data.ResourceProfiles.Add(resource);
        return scope;
    }

    /// <summary>Every sample type of a pprof profile as an OTLP profile of <paramref name="scope"/>.</summary>
    public void AddPprof(ScopeProfiles scope, Pprof.Proto.Profile pprof)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(pprof);
        string S(long index) => pprof.StringTable[(int)index];
        var mappings = pprof.Mapping.ToDictionary(m => m.Id, m => Add(_dictionary.MappingTable, new OtlpMapping
        {
            MemoryStart = m.MemoryStart,
            MemoryLimit = m.MemoryLimit,
            FileOffset = m.FileOffset,
            FilenameStrindex = String(S(m.Filename)),
        }));
        var functions = pprof.Function.ToDictionary(f => f.Id, f => Add(_dictionary.FunctionTable, new OtlpFunction
        {
            NameStrindex = String(S(f.Name)),
            SystemNameStrindex = String(S(f.SystemName)),
            FilenameStrindex = String(S(f.Filename)),
            StartLine = f.StartLine,
        }));
        var locations = pprof.Location.ToDictionary(l => l.Id, l =>
        {
            var location = new OtlpLocation { Address = l.Address, MappingIndex = l.MappingId == 0 ? 0 : mappings[l.MappingId] };
            foreach (var line in l.Line)
                location.Lines.Add(new OtlpLine { FunctionIndex = functions[line.FunctionId], Line_ = line.Line_ });
            return Add(_dictionary.LocationTable, location);
        });

        for (var type = 0; type < pprof.SampleType.Count; type++)
        {
            var profile = new OtlpProfile
            {
                SampleType = new OtlpValueType { TypeStrindex = String(S(pprof.SampleType[type].Type)), UnitStrindex = String(S(pprof.SampleType[type].Unit)) },
                TimeUnixNano = (ulong)pprof.TimeNanos,
                DurationNano = (ulong)pprof.DurationNanos,
                Period = pprof.Period,
            };
            if (pprof.PeriodType is { } period)
                profile.PeriodType = new OtlpValueType { TypeStrindex = String(S(period.Type)), UnitStrindex = String(S(period.Unit)) };
            foreach (var sample in pprof.Sample)
            {
                var stack = new Stack();
                stack.LocationIndices.AddRange(sample.LocationId.Select(id => locations[id]));
                var converted = new OtlpSample { StackIndex = Add(_dictionary.StackTable, stack) };
                converted.Values.Add(sample.Value[type]);
                foreach (var label in sample.Label)
                {
                    converted.AttributeIndices.Add(Add(_dictionary.AttributeTable, new KeyValueAndUnit
                    {
                        KeyStrindex = String(S(label.Key)),
                        Value = label.Str != 0 ? new AnyValue { StringValue = S(label.Str) } : new AnyValue { IntValue = label.Num },
                        UnitStrindex = label.NumUnit != 0 ? String(S(label.NumUnit)) : 0,
                    }));
                }

                profile.Samples.Add(converted);
            }

            scope.Profiles.Add(profile);
        }
    }

    /// <summary>
    /// A CPU profile as the eBPF profiler sends it: <c>samples/count</c> every <paramref name="periodNanos"/>
    /// of CPU time, each sample its timestamps, stacks leaf first through a binary mapped with a build id,
    /// and the thread's name as a sample attribute. <paramref name="stacks"/> are root-first frame names
    /// with their sample counts.
    /// </summary>
    public OtlpProfile AddEbpfCpu(ScopeProfiles scope, IReadOnlyList<(string[] Frames, int Count)> stacks, long periodNanos, ulong timeUnixNano, string thread = "worker")
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(stacks);
        var buildId = Add(_dictionary.AttributeTable, new KeyValueAndUnit
        {
            KeyStrindex = String("process.executable.build_id.gnu"),
            Value = new AnyValue { StringValue = "8a3f2c1d0e9b" },
        });
        var mapping = new OtlpMapping { MemoryStart = 0x400000, MemoryLimit = 0x800000, FilenameStrindex = String("/usr/bin/shop") };
        mapping.AttributeIndices.Add(buildId);
        var mappingIndex = Add(_dictionary.MappingTable, mapping);
        var threadName = Add(_dictionary.AttributeTable, new KeyValueAndUnit { KeyStrindex = String("thread.name"), Value = new AnyValue { StringValueStrindex = String(thread) } });
        var profile = new OtlpProfile
        {
            SampleType = new OtlpValueType { TypeStrindex = String("samples"), UnitStrindex = String("count") },
            PeriodType = new OtlpValueType { TypeStrindex = String("cpu"), UnitStrindex = String("nanoseconds") },
            Period = periodNanos,
            TimeUnixNano = timeUnixNano,
            DurationNano = 10_000_000_000,
            ProfileId = ByteString.CopyFrom(Guid.NewGuid().ToByteArray()),
        };
        foreach (var (frames, count) in stacks)
        {
            var stack = new Stack();
            foreach (var frame in frames.Reverse())
            {
                if (!_frames.TryGetValue(frame, out var locationIndex))
                {
                    var function = Add(_dictionary.FunctionTable, new OtlpFunction { NameStrindex = String(frame), FilenameStrindex = String("shop.c") });
                    var location = new OtlpLocation { MappingIndex = mappingIndex, Address = 0x400000 + ((ulong)function * 16) };
                    location.Lines.Add(new OtlpLine { FunctionIndex = function, Line_ = 10 + function });
                    locationIndex = _frames[frame] = Add(_dictionary.LocationTable, location);
                }

                stack.LocationIndices.Add(locationIndex);
            }

            var sample = new OtlpSample { StackIndex = Add(_dictionary.StackTable, stack) };
            sample.AttributeIndices.Add(threadName);
            for (var i = 0; i < count; i++)
                sample.TimestampsUnixNano.Add(timeUnixNano + ((ulong)i * (ulong)periodNanos));
            profile.Samples.Add(sample);
        }

        scope.Profiles.Add(profile);
        return profile;
    }

    /// <summary>The index of a string in the dictionary, added on first use.</summary>
    public int String(string text)
    {
        if (!_strings.TryGetValue(text, out var index))
        {
            index = _dictionary.StringTable.Count;
            _strings[text] = index;
            _dictionary.StringTable.Add(text);
        }

        return index;
    }

    private static int Add<T>(Google.Protobuf.Collections.RepeatedField<T> table, T entry)
    {
        table.Add(entry);
        return table.Count - 1;
    }
}
