using System.Runtime.InteropServices;
using System.Text;

namespace Hotpath.Pprof;

/// <summary>
/// Adding another merger's tables directly: what adding its encoded output would do (the same ids, the same order
/// of first sight, the same keys), without encoding and decoding it. Taking a striped fold and averaging gauges per
/// instance add mergers to mergers.
/// </summary>
public sealed partial class ProfileMerger
{
    // Per merger added: its strings, functions, mappings and locations mapped to this one's (as the _input* arrays).
    private long[] _otherStrings = [];
    private ulong[] _otherFunctions = [];
    private (int Index, ulong Offset)[] _otherMappings = [];
    private ulong[] _otherLocations = [];

    /// <summary>The names of the sample types (the first profile's), in order; empty before any profile.</summary>
    public IReadOnlyList<string> SampleTypeNames =>
        _sampleTypes is null ? [] : [.. _sampleTypes.Select(t => Encoding.UTF8.GetString(_strings[(int)t.Type]))];

    /// <summary>Adds what another merger holds, as if each of its profiles were added here.</summary>
    public void Add(ProfileMerger other) => Add(other, null);

    /// <summary>
    /// Adds what another merger holds with each column's values multiplied by its ratio first, rounded to the nearest
    /// integer, as adding its merged profile after <see cref="Aggregations.ScaleN"/> would (samples left all zero are dropped).
    /// </summary>
    /// <exception cref="IncompatibleProfilesException">Its sample types or period type differ from this merger's.</exception>
    public void Add(ProfileMerger other, IReadOnlyList<double>? ratios)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (ReferenceEquals(other, this))
            throw new ArgumentException("a merger cannot be added to itself", nameof(other));
        if (other.Count == 0)
            return;
        var otherTypes = other._sampleTypes!;
        if (ratios is not null && ratios.Count != otherTypes.Length)
            throw new ArgumentException($"{ratios.Count} ratios for {otherTypes.Length} sample types", nameof(ratios));

        _otherStrings = Reset(_otherStrings, other._strings.Count, -1L);
        _otherFunctions = Reset(_otherFunctions, other._functions.Count, 0UL);
        _otherMappings = Reset(_otherMappings, other._mappings.Count, (-1, 0UL));
        _otherLocations = Reset(_otherLocations, other._locations.Count, 0UL);
        // The first mapping is the main binary; map it first so that it stays first.
        if (_mappings.Count == 0 && other._mappings.Count > 0)
            MapOtherMapping(other, 0);
        AddHeader(otherTypes, other._periodType, other._dropFrames, other._keepFrames, other._timeNanos, other._durationNanos, other._period,
            CollectionsMarshal.AsSpan(other._comments), other._defaultSampleType, other._docUrl, index => MapOtherString(other, index));

        var scaled = new long[otherTypes.Length];
        for (var s = 0; s < other._sampleKeys.Count; s++)
        {
            var values = other._sampleValues[s].AsSpan();
            if (ratios is not null)
            {
                for (var i = 0; i < values.Length; i++)
                    scaled[i] = ratios[i] == 1 ? values[i] : (long)Math.Round(values[i] * ratios[i]);
                values = scaled;
            }

            if (!IsZero(values))
                AddSample(OtherSampleKey(other, other._sampleKeys[s]), values);
        }

        Count += other.Count;
    }

    /// <summary>A sample key of the other merger in this one's ids, its labels sorted by this one's string ids.</summary>
    private ReadOnlySpan<ulong> OtherSampleKey(ProfileMerger other, ulong[] otherKey)
    {
        if (_scratch.Length < otherKey.Length)
            _scratch = new ulong[Math.Max(otherKey.Length, _scratch.Length * 2)];
        var key = _scratch.AsSpan(0, otherKey.Length);
        var locations = (int)otherKey[0];
        key[0] = otherKey[0];
        for (var i = 1; i <= locations; i++)
            key[i] = MapOtherLocation(other, (int)otherKey[i] - 1);
        for (var at = locations + 1; at < otherKey.Length; at += 4)
        {
            key[at] = (ulong)MapOtherString(other, (long)otherKey[at]);
            key[at + 1] = (ulong)MapOtherString(other, (long)otherKey[at + 1]);
            key[at + 2] = otherKey[at + 2];
            key[at + 3] = (ulong)MapOtherString(other, (long)otherKey[at + 3]);
        }

        SortLabels(key[(locations + 1)..]);
        return key;
    }

    private ulong MapOtherLocation(ProfileMerger other, int position)
    {
        var merged = _otherLocations[position];
        if (merged != 0)
            return merged;

        var src = other._locations[position];
        var mappingPosition = (int)src.MappingId - 1;
        var (mappingIndex, offset) = mappingPosition < 0 ? (-1, 0UL) : MapOtherMapping(other, mappingPosition);
        var mappingId = (ulong)(mappingIndex + 1);
        var length = 3 + 3 * src.LineCount;
        Span<ulong> key = length <= 96 ? stackalloc ulong[length] : new ulong[length];
        key[0] = mappingId;
        key[1] = mappingPosition < 0 ? src.Address : src.Address - other._mappings[mappingPosition].MemoryStart;
        key[2] = src.IsFolded ? 1UL : 0UL;
        for (var i = 0; i < src.LineCount; i++)
        {
            var line = other._lines[src.LineStart + i];
            key[3 + 3 * i] = line.FunctionId == 0 ? 0 : MapOtherFunction(other, (int)line.FunctionId - 1);
            key[4 + 3 * i] = (ulong)line.Line;
            key[5 + 3 * i] = (ulong)line.Column;
        }

        return _otherLocations[position] = InternLocation(key, src.Address + offset);
    }

    private (int Index, ulong Offset) MapOtherMapping(ProfileMerger other, int position)
    {
        if (_otherMappings[position].Index < 0)
            _otherMappings[position] = MapMapping(other._mappings[position], index => MapOtherString(other, index));
        return _otherMappings[position];
    }

    private ulong MapOtherFunction(ProfileMerger other, int position)
    {
        if (_otherFunctions[position] == 0)
        {
            var src = other._functions[position];
            _otherFunctions[position] = MapFunction(new FunctionKey(MapOtherString(other, src.Name), MapOtherString(other, src.SystemName),
                MapOtherString(other, src.Filename), src.StartLine));
        }

        return _otherFunctions[position];
    }

    private long MapOtherString(ProfileMerger other, long otherIndex)
    {
        var merged = _otherStrings[otherIndex];
        if (merged >= 0)
            return merged;

        var text = other._strings[(int)otherIndex];
        if (!_stringIndex.TryGetValue(text, out merged))
        {
            merged = _strings.Count;
            _strings.Add(text); // strings are never changed once stored, so the other's array is shared, not copied
            _stringIndex.Add(text, merged);
        }

        _otherStrings[otherIndex] = merged;
        return merged;
    }
}
