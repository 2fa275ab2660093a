using System.Text;
using Google.Protobuf;
using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof;

/// <summary>
/// Folds profiles into one with the semantics of Go's <c>profile.Merge</c>: functions, mappings and
/// locations are de-duplicated by content and renumbered in first-seen order, samples with the same
/// locations and labels are summed, all-zero samples are dropped. Each input can be dropped (or its
/// <see cref="RawProfile"/> reused) as soon as <see cref="Add(RawProfile)"/> returns, so memory grows with the
/// distinct content, not with the number of inputs.
/// </summary>
public sealed partial class ProfileMerger
{
    // Go rounds mapping sizes up to 4 KiB so that minor differences between processes still match.
    private const ulong MappingSizeRounding = 0x1000;

    private readonly List<byte[]> _strings = [[]];
    private readonly Dictionary<byte[], long> _stringIndex = new(SequenceComparer<byte>.Instance) { [[]] = 0 };

    // Flat tables rather than the generated model's objects: a merge of pieces maps thousands of locations per
    // input, and an object (and a list of lines) for each was most of the builder's garbage.
    private readonly List<FunctionKey> _functions = [];
    private readonly Dictionary<FunctionKey, ulong> _functionByKey = [];
    private readonly List<MergedMapping> _mappings = [];
    private readonly Dictionary<MappingKey, int> _mappingByKey = [];
    private readonly List<MergedLocation> _locations = [];
    private readonly List<MergedLine> _lines = [];
    private readonly Dictionary<ulong[], ulong> _locationByKey = new(SequenceComparer<ulong>.Instance);
    private readonly Dictionary<ulong[], int> _sampleByKey = new(SequenceComparer<ulong>.Instance);
    private readonly List<ulong[]> _sampleKeys = [];
    private readonly List<long[]> _sampleValues = [];

    // Per input: its positions mapped to merged ids (0 = not mapped yet), and its string indexes (-1 = not yet).
    private ulong[] _inputFunctions = [];
    private (int Index, ulong Offset)[] _inputMappings = [];
    private ulong[] _inputLocations = [];
    private long[] _inputStrings = [];
    private RawProfile _input = null!;
    private ulong[] _scratch = new ulong[64];
    private RawProfile? _converted;

    // Header, from the first input; checked against every later one.
    private (long Type, long Unit)[]? _sampleTypes;
    private (long Type, long Unit) _periodType;
    private long _timeNanos;
    private long _durationNanos;
    private long _period;
    private readonly List<long> _comments = [];
    private long _dropFrames;
    private long _keepFrames;
    private long _defaultSampleType;
    private long _docUrl;

    /// <summary>How many profiles were added.</summary>
    public int Count { get; private set; }

    /// <summary>Adds a profile of the generated model (tools and tests; the hot path adds <see cref="RawProfile"/>s).</summary>
    public void Add(Profile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        _converted ??= new RawProfile();
        new ProfileDecoder().Load(profile.ToByteArray(), _converted);
        Add(_converted);
    }

    /// <summary>Adds one validated profile.</summary>
    /// <exception cref="IncompatibleProfilesException">Its sample types or period type differ from the first profile's.</exception>
    public void Add(RawProfile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        BeginInput(profile);
        AddHeader(profile);

        var lookup = _sampleByKey.GetAlternateLookup<ReadOnlySpan<ulong>>();
        foreach (ref readonly var sample in profile.Samples.AsSpan())
        {
            var values = profile.SampleValues.Slice(sample.ValueStart, sample.ValueCount);
            if (IsZero(values))
                continue;

            var key = SampleKey(profile, sample);
            if (lookup.TryGetValue(key, out var index))
            {
                var sums = _sampleValues[index];
                for (var i = 0; i < sums.Length; i++)
                    sums[i] += values[i];
            }
            else
            {
                var stored = key.ToArray();
                _sampleByKey.Add(stored, _sampleKeys.Count);
                _sampleKeys.Add(stored);
                _sampleValues.Add(values.ToArray());
            }
        }

        _input = null!;
        Count++;
    }

    private void BeginInput(RawProfile p)
    {
        _input = p;
        _inputFunctions = Reset(_inputFunctions, p.Functions.Count, 0UL);
        _inputMappings = Reset(_inputMappings, p.Mappings.Count, (-1, 0UL));
        _inputLocations = Reset(_inputLocations, p.Locations.Count, 0UL);
        _inputStrings = Reset(_inputStrings, p.Strings.Count, -1L);

        // The first mapping is the main binary; map it first so that it stays first.
        if (_mappings.Count == 0 && p.Mappings.Count > 0)
            MapMapping(0);

        static T[] Reset<T>(T[] array, int count, T empty)
        {
            if (array.Length < count)
                array = new T[Math.Max(count, array.Length * 2)];
            array.AsSpan(0, count).Fill(empty);
            return array;
        }
    }

    private void AddHeader(RawProfile p)
    {
        var types = new (long, long)[p.SampleTypes.Count];
        for (var i = 0; i < types.Length; i++)
            types[i] = (MapString(p.SampleTypes[i].Type), MapString(p.SampleTypes[i].Unit));
        var period = (MapString(p.PeriodType.Type), MapString(p.PeriodType.Unit));

        if (_sampleTypes is null)
        {
            _sampleTypes = types;
            _periodType = period;
            _dropFrames = MapString(p.DropFrames);
            _keepFrames = MapString(p.KeepFrames);
        }
        else
        {
            if (period != _periodType)
                throw new IncompatibleProfilesException($"incompatible period types {Describe([_periodType])} and {Describe([period])}");
            if (!types.AsSpan().SequenceEqual(_sampleTypes))
                throw new IncompatibleProfilesException($"incompatible sample types {Describe(_sampleTypes)} and {Describe(types)}");
        }

        if (p.TimeNanos != 0 && (_timeNanos == 0 || p.TimeNanos < _timeNanos))
            _timeNanos = p.TimeNanos;
        _durationNanos += p.DurationNanos;
        _period = Math.Max(_period, p.Period);
        foreach (var c in p.Comments.AsSpan())
        {
            var comment = MapString(c);
            if (!_comments.Contains(comment))
                _comments.Add(comment);
        }

        if (_defaultSampleType == 0)
            _defaultSampleType = MapString(p.DefaultSampleType);
        if (_docUrl == 0)
            _docUrl = MapString(p.DocUrl);
    }

    private string Describe((long Type, long Unit)[] types) =>
        "[" + string.Join(" ", types.Select(t => Encoding.UTF8.GetString(_strings[(int)t.Type]) + "/" + Encoding.UTF8.GetString(_strings[(int)t.Unit]))) + "]";

    /// <summary>
    /// The sample's identity: [location count, merged location ids…, then (key, str, num, unit) per label],
    /// labels in a canonical order so that the same label set always gives the same key.
    /// </summary>
    private ReadOnlySpan<ulong> SampleKey(RawProfile p, in RawSample sample)
    {
        var length = 1 + sample.LocationCount + 4 * sample.LabelCount;
        if (_scratch.Length < length)
            _scratch = new ulong[Math.Max(length, _scratch.Length * 2)];
        var key = _scratch.AsSpan(0, length);

        key[0] = (ulong)sample.LocationCount;
        var at = 1;
        foreach (var id in p.SampleLocations.Slice(sample.LocationStart, sample.LocationCount))
            key[at++] = MapLocation(p.LocationIndex.IndexOf(id));

        var labelsStart = at;
        foreach (ref readonly var label in p.Labels.Slice(sample.LabelStart, sample.LabelCount))
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

    private ulong MapLocation(int position)
    {
        var merged = _inputLocations[position];
        if (merged != 0)
            return merged;

        ref readonly var src = ref _input.Locations[position];
        var mappingPosition = src.MappingId == 0 ? -1 : _input.MappingIndex.IndexOf(src.MappingId);
        var (mappingIndex, offset) = mappingPosition < 0 ? (-1, 0UL) : MapMapping(mappingPosition);
        var mappingId = (ulong)(mappingIndex + 1);

        var lines = _input.Lines.Slice(src.LineStart, src.LineCount);
        var length = 3 + 3 * lines.Length;
        Span<ulong> key = length <= 96 ? stackalloc ulong[length] : new ulong[length];
        key[0] = mappingId;
        // Addresses relative to the mapping start, so that the same code in two processes matches.
        key[1] = mappingPosition < 0 ? src.Address : src.Address - _input.Mappings[mappingPosition].MemoryStart;
        key[2] = src.IsFolded ? 1UL : 0UL;
        for (var i = 0; i < lines.Length; i++)
        {
            key[3 + 3 * i] = lines[i].FunctionId == 0 ? 0 : MapFunction(_input.FunctionIndex.IndexOf(lines[i].FunctionId));
            key[4 + 3 * i] = (ulong)lines[i].Line;
            key[5 + 3 * i] = (ulong)lines[i].Column;
        }

        var lookup = _locationByKey.GetAlternateLookup<ReadOnlySpan<ulong>>();
        if (!lookup.TryGetValue(key, out merged))
        {
            merged = (ulong)_locations.Count + 1;
            _locations.Add(new MergedLocation(mappingId, src.Address + offset, src.IsFolded, _lines.Count, lines.Length));
            for (var i = 0; i < lines.Length; i++)
                _lines.Add(new MergedLine(key[3 + 3 * i], lines[i].Line, lines[i].Column));
            lookup.TryAdd(key, merged);
        }

        _inputLocations[position] = merged;
        return merged;
    }

    private (int Index, ulong Offset) MapMapping(int position)
    {
        if (_inputMappings[position].Index >= 0)
            return _inputMappings[position];

        ref readonly var src = ref _input.Mappings[position];
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
            _mappings.Add(new MergedMapping(src.MemoryStart, src.MemoryLimit, src.FileOffset, MapString(src.Filename), MapString(src.BuildId),
                src.HasFunctions, src.HasFilenames, src.HasLineNumbers, src.HasInlineFrames));
            _mappingByKey.Add(key, index);
            result = (index, 0UL);
        }

        _inputMappings[position] = result;
        return result;
    }

    private ulong MapFunction(int position)
    {
        var merged = _inputFunctions[position];
        if (merged != 0)
            return merged;

        ref readonly var src = ref _input.Functions[position];
        var key = new FunctionKey(MapString(src.Name), MapString(src.SystemName), MapString(src.Filename), src.StartLine);
        if (!_functionByKey.TryGetValue(key, out merged))
        {
            merged = (ulong)_functions.Count + 1;
            _functions.Add(key);
            _functionByKey.Add(key, merged);
        }

        _inputFunctions[position] = merged;
        return merged;
    }

    private long MapString(long inputIndex)
    {
        var merged = _inputStrings[inputIndex];
        if (merged >= 0)
            return merged;

        var lookup = _stringIndex.GetAlternateLookup<ReadOnlySpan<byte>>();
        var text = _input.String(inputIndex);
        if (!lookup.TryGetValue(text, out merged))
        {
            merged = _strings.Count;
            var stored = text.ToArray();
            _strings.Add(stored);
            _stringIndex.Add(stored, merged);
        }

        _inputStrings[inputIndex] = merged;
        return merged;
    }

    private static bool IsZero(ReadOnlySpan<long> values)
    {
        foreach (var v in values)
        {
            if (v != 0)
                return false;
        }

        return true;
    }

    private readonly record struct FunctionKey(long Name, long SystemName, long Filename, long StartLine);

    private readonly record struct MappingKey(ulong Size, ulong Offset, long BuildIdOrFile);

    private readonly record struct MergedMapping(ulong MemoryStart, ulong MemoryLimit, ulong FileOffset, long Filename, long BuildId,
        bool HasFunctions, bool HasFilenames, bool HasLineNumbers, bool HasInlineFrames);

    /// <param name="LineStart">Its first line in <see cref="_lines"/>.</param>
    private readonly record struct MergedLocation(ulong MappingId, ulong Address, bool IsFolded, int LineStart, int LineCount);

    private readonly record struct MergedLine(ulong FunctionId, long Line, long Column);
}
