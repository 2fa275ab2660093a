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
    private Func<long, long>? _mapString; // MapString as a delegate, made once

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
        AddHeader(profile.SampleTypes.AsSpan(), profile.PeriodType, profile.DropFrames, profile.KeepFrames, profile.TimeNanos, profile.DurationNanos,
            profile.Period, profile.Comments.AsSpan(), profile.DefaultSampleType, profile.DocUrl, _mapString ??= MapString);
        foreach (ref readonly var sample in profile.Samples.AsSpan())
        {
            var values = profile.SampleValues.Slice(sample.ValueStart, sample.ValueCount);
            if (IsZero(values))
                continue;

            AddSample(SampleKey(profile, sample), values);
        }

        _input = null!;
        Count++;
    }

    /// <summary>Sums the values into the sample of the key (this merger's ids), or adds it.</summary>
    private void AddSample(ReadOnlySpan<ulong> key, ReadOnlySpan<long> values)
    {
        var lookup = _sampleByKey.GetAlternateLookup<ReadOnlySpan<ulong>>();
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
    }

    /// <summary>The array, grown to hold <paramref name="count"/>, its first <paramref name="count"/> set to <paramref name="empty"/>.</summary>
    private static T[] Reset<T>(T[] array, int count, T empty)
    {
        if (array.Length < count)
            array = new T[Math.Max(count, array.Length * 2)];
        array.AsSpan(0, count).Fill(empty);
        return array;
    }

    /// <summary>Takes an input's header, its strings in the input's ids mapped by <paramref name="map"/> (in this order, which fixes their ids).</summary>
    private void AddHeader(ReadOnlySpan<(long Type, long Unit)> sampleTypes, (long Type, long Unit) periodType, long dropFrames, long keepFrames,
        long timeNanos, long durationNanos, long period, ReadOnlySpan<long> comments, long defaultSampleType, long docUrl, Func<long, long> map)
    {
        var types = new (long, long)[sampleTypes.Length];
        for (var i = 0; i < types.Length; i++)
            types[i] = (map(sampleTypes[i].Type), map(sampleTypes[i].Unit));
        var mappedPeriod = (map(periodType.Type), map(periodType.Unit));

        if (_sampleTypes is null)
        {
            _sampleTypes = types;
            _periodType = mappedPeriod;
            _dropFrames = map(dropFrames);
            _keepFrames = map(keepFrames);
        }
        else
        {
            if (mappedPeriod != _periodType)
                throw new IncompatibleProfilesException($"incompatible period types {Describe([_periodType])} and {Describe([mappedPeriod])}");
            if (!types.AsSpan().SequenceEqual(_sampleTypes))
                throw new IncompatibleProfilesException($"incompatible sample types {Describe(_sampleTypes)} and {Describe(types)}");
        }

        if (timeNanos != 0 && (_timeNanos == 0 || timeNanos < _timeNanos))
            _timeNanos = timeNanos;
        _durationNanos += durationNanos;
        _period = Math.Max(_period, period);
        foreach (var c in comments)
        {
            var comment = map(c);
            if (!_comments.Contains(comment))
                _comments.Add(comment);
        }

        if (_defaultSampleType == 0)
            _defaultSampleType = map(defaultSampleType);
        if (_docUrl == 0)
            _docUrl = map(docUrl);
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

        return _inputLocations[position] = InternLocation(key, src.Address + offset);
    }

    /// <summary>
    /// The id of the location of the key (its mapping's id, its address relative to the mapping, whether folded, then
    /// a function id, line and column per line), added at <paramref name="address"/> if new.
    /// </summary>
    private ulong InternLocation(ReadOnlySpan<ulong> key, ulong address)
    {
        var lookup = _locationByKey.GetAlternateLookup<ReadOnlySpan<ulong>>();
        if (lookup.TryGetValue(key, out var merged))
            return merged;
        merged = (ulong)_locations.Count + 1;
        var lines = (key.Length - 3) / 3;
        _locations.Add(new MergedLocation(key[0], address, key[2] != 0, _lines.Count, lines));
        for (var i = 0; i < lines; i++)
            _lines.Add(new MergedLine(key[3 + 3 * i], (long)key[4 + 3 * i], (long)key[5 + 3 * i]));
        lookup.TryAdd(key, merged);
        return merged;
    }

    private (int Index, ulong Offset) MapMapping(int position)
    {
        if (_inputMappings[position].Index >= 0)
            return _inputMappings[position];

        ref readonly var src = ref _input.Mappings[position];
        return _inputMappings[position] = MapMapping(new MergedMapping(src.MemoryStart, src.MemoryLimit, src.FileOffset, src.Filename, src.BuildId,
            src.HasFunctions, src.HasFilenames, src.HasLineNumbers, src.HasInlineFrames), _mapString ??= MapString);
    }

    /// <summary>An input's mapping (its strings in the input's ids) as this merger's, and how far its addresses shift onto it.</summary>
    private (int Index, ulong Offset) MapMapping(in MergedMapping src, Func<long, long> map)
    {
        var size = src.MemoryLimit - src.MemoryStart;
        size = size + MappingSizeRounding - 1;
        size -= size % MappingSizeRounding;
        var buildIdOrFile = src.BuildId != 0 ? map(src.BuildId) : src.Filename != 0 ? map(src.Filename) : 0;
        var key = new MappingKey(size, src.FileOffset, buildIdOrFile);

        // Same binary at another address: shift this input's addresses onto the merged mapping.
        if (_mappingByKey.TryGetValue(key, out var index))
            return (index, _mappings[index].MemoryStart - src.MemoryStart);
        index = _mappings.Count;
        _mappings.Add(src with { Filename = map(src.Filename), BuildId = map(src.BuildId) });
        _mappingByKey.Add(key, index);
        return (index, 0UL);
    }

    private ulong MapFunction(int position)
    {
        var merged = _inputFunctions[position];
        if (merged != 0)
            return merged;

        ref readonly var src = ref _input.Functions[position];
        return _inputFunctions[position] = MapFunction(new FunctionKey(MapString(src.Name), MapString(src.SystemName), MapString(src.Filename), src.StartLine));
    }

    /// <summary>The id of the function (its strings in this merger's ids), added if new.</summary>
    private ulong MapFunction(FunctionKey key)
    {
        if (!_functionByKey.TryGetValue(key, out var merged))
        {
            merged = (ulong)_functions.Count + 1;
            _functions.Add(key);
            _functionByKey.Add(key, merged);
        }

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
