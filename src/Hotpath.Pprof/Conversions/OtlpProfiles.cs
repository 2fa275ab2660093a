using System.Globalization;
using Hotpath.Pprof.Otlp;
using Google.Protobuf.Collections;
using PprofFunction = Hotpath.Pprof.Proto.Function;
using PprofLabel = Hotpath.Pprof.Proto.Label;
using PprofLine = Hotpath.Pprof.Proto.Line;
using PprofLocation = Hotpath.Pprof.Proto.Location;
using PprofMapping = Hotpath.Pprof.Proto.Mapping;
using PprofProfile = Hotpath.Pprof.Proto.Profile;
using PprofSample = Hotpath.Pprof.Proto.Sample;
using PprofValueType = Hotpath.Pprof.Proto.ValueType;

namespace Hotpath.Pprof.Conversions;

/// <summary>One OpenTelemetry profile as a pprof body, with the service, instance and labels its resource, scope and attributes give.</summary>
/// <param name="Labels">Resource, scope and profile attributes but the two that name the service and the instance.</param>
public sealed record OtlpProfile(string Service, string InstanceId, IReadOnlyList<KeyValuePair<string, string>> Labels, byte[] Body);

/// <summary>
/// OpenTelemetry profiles (OTLP, <c>profiles/v1development</c> of opentelemetry-proto v1.11.0) turned into
/// pprof. OTLP gives each sample type a profile of its own; the profiles of one scope with the same time,
/// period and attributes become one pprof again, one sample type each, a sample per stack and attribute
/// set (so a Go CPU profile sent through the OpenTelemetry Collector is again samples/count and
/// cpu/nanoseconds). A <c>samples/count</c> sampled on CPU time (the eBPF profiler's) gains
/// <c>cpu/nanoseconds</c>, count times period, as Go's CPU profiles have it, so that they merge. The
/// shared dictionary gives each pprof the functions, locations and mappings it uses and nothing else;
/// sample attributes become pprof sample labels; a profile that carries its original pprof is stored as
/// that pprof. Every index is checked: a request that points outside its dictionary is malformed, never
/// a crash.
/// </summary>
public static class OtlpProfiles
{
    /// <summary>The service of a resource without <c>service.name</c>, as OpenTelemetry's SDKs name it.</summary>
    public const string UnknownService = "unknown_service";

    public const string ServiceNameKey = "service.name";
    public const string ServiceInstanceKey = "service.instance.id";
    public const string ScopeNameKey = "otel.scope.name";
    public const string ScopeVersionKey = "otel.scope.version";

    // How much of the budget one location of a sample's stack takes in the pprof model, and one sample
    // (its arrays and labels): a small request can name one long stack from many samples.
    private const long BytesPerFrame = 8;
    private const long BytesPerSample = 64;

    /// <summary>Converts every profile of every resource and scope; profiles without samples are left out.</summary>
    /// <param name="maxBytes">Most memory the pprof models may take together; past it, <see cref="ProfileTooLargeException"/>.</param>
    /// <exception cref="MalformedProfileException">An index outside its table, a sample without values, or a profile without a sample type.</exception>
    public static List<OtlpProfile> Convert(IEnumerable<ResourceProfiles> resources, ProfilesDictionary? dictionary, long maxBytes)
    {
        ArgumentNullException.ThrowIfNull(resources);
        var tables = new Tables(dictionary ?? new ProfilesDictionary(), maxBytes);
        var converted = new List<OtlpProfile>();
        foreach (var resource in resources)
        {
            var resourceLabels = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var attribute in resource.Resource?.Attributes ?? [])
                tables.Add(resourceLabels, attribute);
            foreach (var scope in resource.ScopeProfiles)
            {
                var scopeLabels = new Dictionary<string, string>(resourceLabels, StringComparer.Ordinal);
                if (scope.Scope is { } instrumentation)
                {
                    if (instrumentation.Name.Length > 0)
                        scopeLabels[ScopeNameKey] = instrumentation.Name;
                    if (instrumentation.Version.Length > 0)
                        scopeLabels[ScopeVersionKey] = instrumentation.Version;
                    foreach (var attribute in instrumentation.Attributes)
                        tables.Add(scopeLabels, attribute);
                }

                foreach (var group in Groups(scope.Profiles, tables))
                {
                    var first = group[0];
                    if (group.All(p => p.Samples.Count == 0) && first.OriginalPayload.IsEmpty)
                        continue;
                    var labels = new Dictionary<string, string>(scopeLabels, StringComparer.Ordinal);
                    foreach (var index in first.AttributeIndices)
                    {
                        var attribute = tables.Attribute(index);
                        tables.Add(labels, tables.String(attribute.KeyStrindex), attribute.Value);
                    }

                    var service = labels.Remove(ServiceNameKey, out var name) && name.Length > 0
                        ? name
                        : labels.TryGetValue("process.executable.name", out var executable) ? $"{UnknownService}:{executable}" : UnknownService;
                    labels.Remove(ServiceInstanceKey, out var instance);
                    var body = IsOriginalPprof(first)
                        ? first.OriginalPayload.ToByteArray()
                        : ProfileEncoder.ToGzipBytes(new PprofTranslator(tables, tables.Dictionary).Build(group));
                    converted.Add(new OtlpProfile(service, instance ?? "", [.. labels], body));
                }
            }
        }

        return converted;
    }

    private static bool IsOriginalPprof(Profile profile) => profile.OriginalPayloadFormat == "pprof" && !profile.OriginalPayload.IsEmpty;

    /// <summary>
    /// The profiles of a scope that one pprof holds: those of the same time, duration, period and attributes,
    /// one per sample type, in order. pprof -> OTLP translations (the OpenTelemetry Collector's) split a
    /// profile of several sample types into one OTLP profile each; this puts it back together, so that a
    /// Go CPU profile is again samples/count and cpu/nanoseconds over the same samples.
    /// </summary>
    private static List<List<Profile>> Groups(RepeatedField<Profile> profiles, Tables tables)
    {
        var groups = new List<(string Key, List<Profile> Members, HashSet<string> Types)>();
        foreach (var profile in profiles)
        {
            var type = profile.SampleType is { } t ? $"{tables.String(t.TypeStrindex)}/{tables.String(t.UnitStrindex)}" : "";
            var period = profile.PeriodType is { } p ? $"{tables.String(p.TypeStrindex)}/{tables.String(p.UnitStrindex)}" : "";
            var key = $"{profile.TimeUnixNano}|{profile.DurationNano}|{period}|{profile.Period}|{string.Join(',', profile.AttributeIndices.Order())}";
            var open = IsOriginalPprof(profile) ? -1 : groups.FindIndex(g => g.Key == key && !g.Types.Contains(type));
            if (open < 0)
                groups.Add((IsOriginalPprof(profile) ? "" : key, [profile], [type]));
            else
            {
                groups[open].Members.Add(profile);
                groups[open].Types.Add(type);
            }
        }

        return [.. groups.Select(g => g.Members)];
    }

    /// <summary>The dictionary, checked on every lookup, and what one conversion has spent of its budget.</summary>
    private sealed class Tables(ProfilesDictionary dictionary, long maxBytes)
    {
        private long _spent;

        public ProfilesDictionary Dictionary => dictionary;

        public string String(int index) => At(dictionary.StringTable, index, "string");

        public KeyValueAndUnit Attribute(int index) => At(dictionary.AttributeTable, index, "attribute");

        /// <summary>A resource's or scope's attribute as a label; its key comes as text or as an index into the strings.</summary>
        public void Add(Dictionary<string, string> labels, KeyValue attribute) =>
            Add(labels, attribute.Key.Length > 0 ? attribute.Key : String(attribute.KeyStrindex), attribute.Value);

        /// <summary>An attribute as a label: scalars as text, lists, maps and bytes left out (a label holds one string).</summary>
        public void Add(Dictionary<string, string> labels, string key, AnyValue? value)
        {
            if (key.Length > 0 && Text(value) is { } text)
                labels[key] = text;
        }

        public string? Text(AnyValue? value) => value?.ValueCase switch
        {
            AnyValue.ValueOneofCase.StringValue => value.StringValue,
            AnyValue.ValueOneofCase.StringValueStrindex => String(value.StringValueStrindex),
            AnyValue.ValueOneofCase.BoolValue => value.BoolValue ? "true" : "false",
            AnyValue.ValueOneofCase.IntValue => value.IntValue.ToString(CultureInfo.InvariantCulture),
            AnyValue.ValueOneofCase.DoubleValue => value.DoubleValue.ToString("R", CultureInfo.InvariantCulture),
            _ => null,
        };

        public void Spend(long bytes)
        {
            _spent += bytes;
            if (_spent > maxBytes)
                throw new ProfileTooLargeException(maxBytes, ProfileLimit.DecodedMemory);
        }

        public static T At<T>(RepeatedField<T> table, int index, string what) =>
            (uint)index < (uint)table.Count
                ? table[index]
                : throw new MalformedProfileException($"{what} index {index} is outside the dictionary's {table.Count} {what}s");
    }

    /// <summary>One pprof profile: the dictionary entries it uses, renumbered from 1, and its own string table.</summary>
    private sealed class PprofTranslator
    {
        private readonly Tables _tables;
        private readonly ProfilesDictionary _dictionary;
        private readonly PprofProfile _pprof = new();
        private readonly StringTableBuilder _strings;
        private readonly Dictionary<int, ulong> _locations = [];
        private readonly Dictionary<int, ulong> _functions = [];
        private readonly Dictionary<int, PprofMapping> _mappings = [];
        private readonly Dictionary<string, PprofSample> _samples = new(StringComparer.Ordinal);

        public PprofTranslator(Tables tables, ProfilesDictionary dictionary)
        {
            _tables = tables;
            _dictionary = dictionary;
            _strings = new StringTableBuilder(_pprof);
        }

        /// <summary>One pprof of the group's sample types (in order), a sample per stack and attribute set.</summary>
        public PprofProfile Build(List<Profile> group)
        {
            var first = group[0];
            (string Type, string Unit) periodType = first.PeriodType is { } period ? (_tables.String(period.TypeStrindex), _tables.String(period.UnitStrindex)) : ("", "");
            var columns = group.Count;
            var countColumn = -1;
            for (var i = 0; i < group.Count; i++)
            {
                var (type, unit) = group[i].SampleType is { } sampleType ? (_tables.String(sampleType.TypeStrindex), _tables.String(sampleType.UnitStrindex)) : ("", "");
                if (type.Length == 0)
                    throw new MalformedProfileException("a profile without a sample type");
                if (type == "samples" && unit == "count")
                    countColumn = i;
                _pprof.SampleType.Add(new PprofValueType { Type = Intern(type), Unit = Intern(unit) });
            }

            // The eBPF profiler counts samples taken every `period` nanoseconds of CPU time: their time is
            // what a CPU profile shows, and what Go's CPU profiles (samples/count, cpu/nanoseconds) merge with.
            var cpuColumn = -1;
            if (countColumn >= 0 && periodType is ("cpu", "nanoseconds") && first.Period > 0 && !group.Any(p => _tables.String(p.SampleType.TypeStrindex) == "cpu"))
            {
                cpuColumn = columns++;
                _pprof.SampleType.Add(new PprofValueType { Type = Intern("cpu"), Unit = Intern("nanoseconds") });
            }

            if (periodType.Type.Length > 0)
                _pprof.PeriodType = new PprofValueType { Type = Intern(periodType.Type), Unit = Intern(periodType.Unit) };
            _pprof.Period = first.Period;
            _pprof.TimeNanos = first.TimeUnixNano <= long.MaxValue
                ? (long)first.TimeUnixNano
                : throw new MalformedProfileException($"time_unix_nano {first.TimeUnixNano} is past what pprof can hold");
            _pprof.DurationNanos = (long)Math.Min(first.DurationNano, long.MaxValue);

            for (var column = 0; column < group.Count; column++)
            {
                foreach (var sample in group[column].Samples)
                {
                    var target = Sample(sample, columns);
                    var count = Count(sample);
                    target.Value[column] = Add(target.Value[column], count);
                    if (column == countColumn && cpuColumn >= 0)
                        target.Value[cpuColumn] = Add(target.Value[cpuColumn], Multiply(count, first.Period));
                }
            }

            return _pprof;
        }

        /// <summary>The pprof sample of an OTLP sample's identity (stack, attributes, link), made on first sight.</summary>
        private PprofSample Sample(Sample sample, int columns)
        {
            var key = $"{sample.StackIndex}|{sample.LinkIndex}|{string.Join(',', sample.AttributeIndices)}";
            if (_samples.TryGetValue(key, out var converted))
                return converted;
            var stack = Tables.At(_dictionary.StackTable, sample.StackIndex, "stack");
            _tables.Spend(BytesPerSample + (stack.LocationIndices.Count * BytesPerFrame));
            converted = new PprofSample();
            foreach (var location in stack.LocationIndices)
                converted.LocationId.Add(Location(location));
            for (var i = 0; i < columns; i++)
                converted.Value.Add(0);
            foreach (var index in sample.AttributeIndices)
            {
                if (Label(_tables.Attribute(index)) is { } label)
                    converted.Label.Add(label);
            }

            _samples[key] = converted;
            _pprof.Sample.Add(converted);
            return converted;
        }

        /// <summary>A sample's value: its values summed, or as many as its timestamps when it has only those.</summary>
        private static long Count(Sample sample)
        {
            if (sample.Values.Count == 0)
            {
                return sample.TimestampsUnixNano.Count > 0
                    ? sample.TimestampsUnixNano.Count
                    : throw new MalformedProfileException("a sample with neither values nor timestamps");
            }

            if (sample.TimestampsUnixNano.Count > 0 && sample.TimestampsUnixNano.Count != sample.Values.Count)
                throw new MalformedProfileException($"a sample with {sample.Values.Count} values and {sample.TimestampsUnixNano.Count} timestamps: they must pair up");
            long total = 0;
            foreach (var value in sample.Values)
                total = Add(total, value);
            return total;
        }

        private static long Add(long a, long b)
        {
            try
            {
                return checked(a + b);
            }
            catch (OverflowException)
            {
                throw new MalformedProfileException("a sample's values overflow a 64-bit total");
            }
        }

        private static long Multiply(long count, long period)
        {
            try
            {
                return checked(count * period);
            }
            catch (OverflowException)
            {
                throw new MalformedProfileException($"{count} samples of {period} ns overflow a 64-bit time");
            }
        }

        private PprofLabel? Label(KeyValueAndUnit attribute)
        {
            var key = _tables.String(attribute.KeyStrindex);
            if (key.Length == 0)
                return null;
            if (attribute.Value?.ValueCase == AnyValue.ValueOneofCase.IntValue)
            {
                var unit = _tables.String(attribute.UnitStrindex);
                return new PprofLabel { Key = Intern(key), Num = attribute.Value.IntValue, NumUnit = unit.Length > 0 ? Intern(unit) : 0 };
            }

            return _tables.Text(attribute.Value) is { } text ? new PprofLabel { Key = Intern(key), Str = Intern(text) } : null;
        }

        private ulong Location(int index)
        {
            if (_locations.TryGetValue(index, out var id))
                return id;
            var source = Tables.At(_dictionary.LocationTable, index, "location");
            id = (ulong)_locations.Count + 1;
            _locations[index] = id;
            var location = new PprofLocation { Id = id, Address = source.Address };
            foreach (var line in source.Lines)
                location.Line.Add(new PprofLine { FunctionId = Function(line.FunctionIndex), Line_ = line.Line_, Column = line.Column });
            if (source.MappingIndex != 0)
            {
                var mapping = Mapping(source.MappingIndex);
                location.MappingId = mapping.Id;
                mapping.HasFunctions |= source.Lines.Count > 0;
            }

            _pprof.Location.Add(location);
            return id;
        }

        private ulong Function(int index)
        {
            if (_functions.TryGetValue(index, out var id))
                return id;
            var source = Tables.At(_dictionary.FunctionTable, index, "function");
            id = (ulong)_functions.Count + 1;
            _functions[index] = id;
            _pprof.Function.Add(new PprofFunction
            {
                Id = id,
                Name = Intern(_tables.String(source.NameStrindex)),
                SystemName = Intern(_tables.String(source.SystemNameStrindex)),
                Filename = Intern(_tables.String(source.FilenameStrindex)),
                StartLine = source.StartLine,
            });
            return id;
        }

        private PprofMapping Mapping(int index)
        {
            if (_mappings.TryGetValue(index, out var mapping))
                return mapping;
            var source = Tables.At(_dictionary.MappingTable, index, "mapping");
            mapping = new PprofMapping
            {
                Id = (ulong)_mappings.Count + 1,
                MemoryStart = source.MemoryStart,
                MemoryLimit = source.MemoryLimit,
                FileOffset = source.FileOffset,
                Filename = Intern(_tables.String(source.FilenameStrindex)),
            };
            foreach (var attributeIndex in source.AttributeIndices)
            {
                // The eBPF profiler names a binary's build id in these attributes; pprof has a field for it.
                var attribute = _tables.Attribute(attributeIndex);
                if (_tables.String(attribute.KeyStrindex) is "process.executable.build_id.gnu" or "process.executable.build_id.go" or "process.executable.build_id.htlhash"
                    && mapping.BuildId == 0 && _tables.Text(attribute.Value) is { Length: > 0 } buildId)
                {
                    mapping.BuildId = Intern(buildId);
                }
            }

            _mappings[index] = mapping;
            _pprof.Mapping.Add(mapping);
            return mapping;
        }

        private long Intern(string text) => _strings.Intern(text);
    }
}
