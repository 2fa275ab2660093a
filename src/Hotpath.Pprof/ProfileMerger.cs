using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof;

/// <summary>
/// Folds profiles into one with the semantics of Go's <c>profile.Merge</c>: functions, mappings and
/// locations are de-duplicated by content and renumbered in first-seen order, samples with the same
/// locations and labels are summed, all-zero samples are dropped. Each input can be dropped as soon as
/// <see cref="Add"/> returns, so memory grows with the distinct content, not with the number of inputs.
/// </summary>
public sealed class ProfileMerger
{
    // Go rounds mapping sizes up to 4 KiB so that minor differences between processes still match.
    private const ulong MappingSizeRounding = 0x1000;

    private readonly List<string> _strings = [""];
    private readonly Dictionary<string, long> _stringIndex = new(StringComparer.Ordinal) { [""] = 0 };

    private readonly List<Function> _functions = [];
    private readonly Dictionary<FunctionKey, ulong> _functionByKey = [];
    private readonly List<Mapping> _mappings = [];
    private readonly Dictionary<MappingKey, int> _mappingByKey = [];
    private readonly List<Location> _locations = [];
    private readonly Dictionary<ulong[], ulong> _locationByKey = new(ULongSequenceComparer.Instance);
    private readonly Dictionary<ulong[], int> _sampleByKey = new(ULongSequenceComparer.Instance);
    private readonly List<ulong[]> _sampleKeys = [];
    private readonly List<long[]> _sampleValues = [];

    // Per-input maps from the input's ids to merged ones; cleared for every input.
    private readonly Dictionary<ulong, ulong> _inputFunctions = [];
    private readonly Dictionary<ulong, (int Index, ulong Offset)> _inputMappings = [];
    private readonly Dictionary<ulong, ulong> _inputLocations = [];
    private readonly IdIndex<Location> _locationsById = new(static l => l.Id);
    private readonly IdIndex<Mapping> _mappingsById = new(static m => m.Id);
    private readonly IdIndex<Function> _functionsById = new(static f => f.Id);
    private long[] _inputStrings = [];
    private Profile? _input;
    private ulong[] _scratch = new ulong[64];

    // Header, from the first input; checked against every later one.
    private (string Type, string Unit)[]? _sampleTypes;
    private (string Type, string Unit) _periodType;
    private long _timeNanos;
    private long _durationNanos;
    private long _period;
    private readonly List<string> _comments = [];
    private readonly HashSet<string> _seenComments = new(StringComparer.Ordinal);
    private string _dropFrames = "";
    private string _keepFrames = "";
    private string _defaultSampleType = "";
    private string _docUrl = "";

    /// <summary>How many profiles were added.</summary>
    public int Count { get; private set; }

    /// <summary>Adds one profile; it must have passed <see cref="ProfileValidator"/>.</summary>
    /// <exception cref="IncompatibleProfilesException">Its sample types or period type differ from the first profile's.</exception>
    public void Add(Profile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        AddHeader(profile);
        BeginInput(profile);

        var lookup = _sampleByKey.GetAlternateLookup<ReadOnlySpan<ulong>>();
        foreach (var sample in profile.Sample)
        {
            if (IsZero(sample.Value))
                continue;

            var key = SampleKey(sample);
            if (lookup.TryGetValue(key, out var index))
            {
                var sums = _sampleValues[index];
                for (var i = 0; i < sums.Length; i++)
                    sums[i] += sample.Value[i];
            }
            else
            {
                var stored = key.ToArray();
                _sampleByKey.Add(stored, _sampleKeys.Count);
                _sampleKeys.Add(stored);
                _sampleValues.Add([.. sample.Value]);
            }
        }

        _input = null;
        Count++;
    }

    /// <summary>Builds the merged profile. The merger can keep accepting profiles afterwards.</summary>
    public Profile Build()
    {
        if (_sampleTypes is null)
            throw new InvalidOperationException("no profiles to merge");

        var result = new Profile
        {
            TimeNanos = _timeNanos,
            DurationNanos = _durationNanos,
            Period = _period,
            PeriodType = new Proto.ValueType { Type = Intern(_periodType.Type), Unit = Intern(_periodType.Unit) },
            DropFrames = Intern(_dropFrames),
            KeepFrames = Intern(_keepFrames),
            DefaultSampleType = Intern(_defaultSampleType),
            DocUrl = Intern(_docUrl),
        };
        foreach (var (type, unit) in _sampleTypes)
            result.SampleType.Add(new Proto.ValueType { Type = Intern(type), Unit = Intern(unit) });
        foreach (var comment in _comments)
            result.Comment.Add(Intern(comment));

        result.Sample.Capacity = _sampleKeys.Count;
        for (var i = 0; i < _sampleKeys.Count; i++)
        {
            var values = _sampleValues[i];
            if (IsZero(values)) // positive and negative inputs can cancel out
                continue;
            result.Sample.Add(BuildSample(_sampleKeys[i], values));
        }

        result.Mapping.AddRange(_mappings);
        result.Location.AddRange(_locations);
        result.Function.AddRange(_functions);
        result.StringTable.AddRange(_strings);
        return result;
    }

    private static Sample BuildSample(ulong[] key, long[] values)
    {
        var sample = new Sample();
        var locations = (int)key[0];
        for (var i = 1; i <= locations; i++)
            sample.LocationId.Add(key[i]);
        sample.Value.AddRange(values);
        for (var i = locations + 1; i < key.Length; i += 4)
        {
            sample.Label.Add(new Label
            {
                Key = (long)key[i],
                Str = (long)key[i + 1],
                Num = (long)key[i + 2],
                NumUnit = (long)key[i + 3],
            });
        }

        return sample;
    }

    private void AddHeader(Profile p)
    {
        var types = new (string, string)[p.SampleType.Count];
        for (var i = 0; i < types.Length; i++)
            types[i] = (p.StringTable[(int)p.SampleType[i].Type], p.StringTable[(int)p.SampleType[i].Unit]);
        var period = p.PeriodType is { } pt ? (p.StringTable[(int)pt.Type], p.StringTable[(int)pt.Unit]) : ("", "");

        if (_sampleTypes is null)
        {
            _sampleTypes = types;
            _periodType = period;
            _dropFrames = p.StringTable[(int)p.DropFrames];
            _keepFrames = p.StringTable[(int)p.KeepFrames];
        }
        else
        {
            if (period != _periodType)
                throw new IncompatibleProfilesException(
                    $"incompatible period types {Describe([_periodType])} and {Describe([period])}");
            if (!types.AsSpan().SequenceEqual(_sampleTypes))
                throw new IncompatibleProfilesException(
                    $"incompatible sample types {Describe(_sampleTypes)} and {Describe(types)}");
        }

        if (p.TimeNanos != 0 && (_timeNanos == 0 || p.TimeNanos < _timeNanos))
            _timeNanos = p.TimeNanos;
        _durationNanos += p.DurationNanos;
        _period = Math.Max(_period, p.Period);
        foreach (var c in p.Comment)
        {
            var comment = p.StringTable[(int)c];
            if (_seenComments.Add(comment))
                _comments.Add(comment);
        }

        if (_defaultSampleType.Length == 0)
            _defaultSampleType = p.StringTable[(int)p.DefaultSampleType];
        if (_docUrl.Length == 0)
            _docUrl = p.StringTable[(int)p.DocUrl];
    }

    private static string Describe((string Type, string Unit)[] types) =>
        "[" + string.Join(" ", types.Select(t => t.Type + "/" + t.Unit)) + "]";

    private void BeginInput(Profile p)
    {
        _input = p;
        _inputFunctions.Clear();
        _inputMappings.Clear();
        _inputLocations.Clear();
        _locationsById.Reset(p.Location);
        _mappingsById.Reset(p.Mapping);
        _functionsById.Reset(p.Function);
        if (_inputStrings.Length < p.StringTable.Count)
            _inputStrings = new long[Math.Max(p.StringTable.Count, _inputStrings.Length * 2)];
        _inputStrings.AsSpan(0, p.StringTable.Count).Fill(-1);

        // The first mapping is the main binary; map it first so that it stays first.
        if (_mappings.Count == 0 && p.Mapping.Count > 0)
            MapMapping(p.Mapping[0]);
    }

    /// <summary>
    /// The sample's identity: [location count, merged location ids…, then (key, str, num, unit) per label],
    /// labels in a canonical order so that the same label set always gives the same key.
    /// </summary>
    private ReadOnlySpan<ulong> SampleKey(Sample sample)
    {
        var length = 1 + sample.LocationId.Count + 4 * sample.Label.Count;
        if (_scratch.Length < length)
            _scratch = new ulong[Math.Max(length, _scratch.Length * 2)];
        var key = _scratch.AsSpan(0, length);

        key[0] = (ulong)sample.LocationId.Count;
        var at = 1;
        foreach (var id in sample.LocationId)
            key[at++] = MapLocation(id);

        var labelsStart = at;
        foreach (var label in sample.Label)
        {
            key[at] = (ulong)MapString(label.Key);
            key[at + 1] = (ulong)MapString(label.Str);
            key[at + 2] = (ulong)label.Num;
            key[at + 3] = (ulong)MapString(label.NumUnit);
            at += 4;
        }

        SortLabels(key[labelsStart..]);
        return key;
    }

    /// <summary>Insertion sort of 4-wide label records by (numeric?, key): stable, and label sets are tiny.</summary>
    private static void SortLabels(Span<ulong> labels)
    {
        var count = labels.Length / 4;
        Span<ulong> held = stackalloc ulong[4];
        for (var i = 1; i < count; i++)
        {
            var j = i;
            labels.Slice(i * 4, 4).CopyTo(held);
            while (j > 0 && Compare(labels.Slice((j - 1) * 4, 4), held) > 0)
            {
                labels.Slice((j - 1) * 4, 4).CopyTo(labels.Slice(j * 4, 4));
                j--;
            }

            held.CopyTo(labels.Slice(j * 4, 4));
        }

        static int Compare(ReadOnlySpan<ulong> a, ReadOnlySpan<ulong> b)
        {
            // String labels (str != 0) before numeric ones, as Go keeps them in two maps.
            var byKind = (a[1] == 0).CompareTo(b[1] == 0);
            return byKind != 0 ? byKind : a[0].CompareTo(b[0]);
        }
    }

    private ulong MapLocation(ulong inputId)
    {
        if (_inputLocations.TryGetValue(inputId, out var merged))
            return merged;

        var src = _locationsById.Get(inputId);
        var srcMapping = src.MappingId == 0 ? null : _mappingsById.Get(src.MappingId);
        var (mappingIndex, offset) = srcMapping is null ? (-1, 0UL) : MapMapping(srcMapping);
        var mapping = mappingIndex >= 0 ? _mappings[mappingIndex] : null;

        var length = 3 + 3 * src.Line.Count;
        Span<ulong> key = length <= 96 ? stackalloc ulong[length] : new ulong[length];
        key[0] = mapping?.Id ?? 0;
        // Addresses relative to the mapping start, so that the same code in two processes matches.
        key[1] = srcMapping is null ? src.Address : src.Address - srcMapping.MemoryStart;
        key[2] = src.IsFolded ? 1UL : 0UL;
        for (var i = 0; i < src.Line.Count; i++)
        {
            var line = src.Line[i];
            key[3 + 3 * i] = line.FunctionId == 0 ? 0 : MapFunction(line.FunctionId);
            key[4 + 3 * i] = (ulong)line.Line_;
            key[5 + 3 * i] = (ulong)line.Column;
        }

        var lookup = _locationByKey.GetAlternateLookup<ReadOnlySpan<ulong>>();
        if (!lookup.TryGetValue(key, out merged))
        {
            merged = (ulong)_locations.Count + 1;
            var location = new Location
            {
                Id = merged,
                MappingId = mapping?.Id ?? 0,
                Address = src.Address + offset,
                IsFolded = src.IsFolded,
            };
            for (var i = 0; i < src.Line.Count; i++)
                location.Line.Add(new Line { FunctionId = key[3 + 3 * i], Line_ = src.Line[i].Line_, Column = src.Line[i].Column });
            _locations.Add(location);
            lookup.TryAdd(key, merged);
        }

        _inputLocations[inputId] = merged;
        return merged;
    }

    private (int Index, ulong Offset) MapMapping(Mapping src)
    {
        if (_inputMappings.TryGetValue(src.Id, out var known))
            return known;

        var size = src.MemoryLimit - src.MemoryStart;
        size = size + MappingSizeRounding - 1;
        size -= size % MappingSizeRounding;
        var buildIdOrFile = src.BuildId != 0 ? MapString(src.BuildId) : src.Filename != 0 ? MapString(src.Filename) : 0;
        var key = new MappingKey(size, src.FileOffset, buildIdOrFile);

        (int, ulong) result;
        if (_mappingByKey.TryGetValue(key, out var index))
        {
            // Same binary at another address: shift this input's addresses onto the merged mapping.
            result = (index, _mappings[index].MemoryStart - src.MemoryStart);
        }
        else
        {
            index = _mappings.Count;
            _mappings.Add(new Mapping
            {
                Id = (ulong)index + 1,
                MemoryStart = src.MemoryStart,
                MemoryLimit = src.MemoryLimit,
                FileOffset = src.FileOffset,
                Filename = MapString(src.Filename),
                BuildId = MapString(src.BuildId),
                HasFunctions = src.HasFunctions,
                HasFilenames = src.HasFilenames,
                HasLineNumbers = src.HasLineNumbers,
                HasInlineFrames = src.HasInlineFrames,
            });
            _mappingByKey.Add(key, index);
            result = (index, 0UL);
        }

        _inputMappings[src.Id] = result;
        return result;
    }

    private ulong MapFunction(ulong inputId)
    {
        if (_inputFunctions.TryGetValue(inputId, out var merged))
            return merged;

        var src = _functionsById.Get(inputId);
        var key = new FunctionKey(MapString(src.Name), MapString(src.SystemName), MapString(src.Filename), src.StartLine);
        if (!_functionByKey.TryGetValue(key, out merged))
        {
            merged = (ulong)_functions.Count + 1;
            _functions.Add(new Function
            {
                Id = merged,
                Name = key.Name,
                SystemName = key.SystemName,
                Filename = key.Filename,
                StartLine = src.StartLine,
            });
            _functionByKey.Add(key, merged);
        }

        _inputFunctions[inputId] = merged;
        return merged;
    }

    private long MapString(long inputIndex)
    {
        var merged = _inputStrings[inputIndex];
        if (merged < 0)
            _inputStrings[inputIndex] = merged = Intern(_input!.StringTable[(int)inputIndex]);
        return merged;
    }

    private long Intern(string s)
    {
        if (!_stringIndex.TryGetValue(s, out var index))
        {
            index = _strings.Count;
            _strings.Add(s);
            _stringIndex.Add(s, index);
        }

        return index;
    }

    private static bool IsZero(IList<long> values)
    {
        for (var i = 0; i < values.Count; i++)
        {
            if (values[i] != 0)
                return false;
        }

        return true;
    }

    private readonly record struct FunctionKey(long Name, long SystemName, long Filename, long StartLine);

    private readonly record struct MappingKey(ulong Size, ulong Offset, long BuildIdOrFile);
}
