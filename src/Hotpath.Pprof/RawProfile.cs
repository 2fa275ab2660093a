namespace Hotpath.Pprof;

/// <summary>
/// A decoded profile as flat arrays of structs over the decompressed bytes: no object per sample, location
/// or string. It is what the merger folds and what ingest validates; one instance is reused profile after
/// profile. Strings stay UTF-8 slices of <see cref="Buffer"/> until the merger interns them.
/// </summary>
public sealed class RawProfile
{
    internal readonly DecodeMeter Meter = new();
    internal readonly ValueList<(long Type, long Unit)> SampleTypes;
    internal readonly ValueList<RawSample> Samples;
    internal readonly ValueList<ulong> SampleLocations;
    internal readonly ValueList<long> SampleValues;
    internal readonly ValueList<RawLabel> Labels;
    internal readonly ValueList<RawMapping> Mappings;
    internal readonly ValueList<RawLocation> Locations;
    internal readonly ValueList<RawLine> Lines;
    internal readonly ValueList<RawFunction> Functions;
    internal readonly ValueList<(int Start, int Length)> Strings;
    internal readonly ValueList<long> Comments;
    internal readonly IdIndex LocationIndex;
    internal readonly IdIndex MappingIndex;
    internal readonly IdIndex FunctionIndex;

    public RawProfile()
    {
        SampleTypes = new(Meter);
        Samples = new(Meter);
        SampleLocations = new(Meter);
        SampleValues = new(Meter);
        Labels = new(Meter);
        Mappings = new(Meter);
        Locations = new(Meter);
        Lines = new(Meter);
        Functions = new(Meter);
        Strings = new(Meter);
        Comments = new(Meter);
        LocationIndex = new(Meter);
        MappingIndex = new(Meter);
        FunctionIndex = new(Meter);
    }

    /// <summary>The decompressed protobuf the string slices point into; kept and reused for the next profile.</summary>
    internal byte[] Buffer { get; private set; } = [];

    /// <summary>How many bytes of <see cref="Buffer"/> the current profile takes.</summary>
    internal int DecodedLength { get; private set; }

    public long TimeNanos { get; private set; }
    public long DurationNanos { get; private set; }
    public long Period { get; private set; }
    internal (long Type, long Unit) PeriodType { get; private set; }
    internal long DropFrames { get; private set; }
    internal long KeepFrames { get; private set; }
    internal long DefaultSampleType { get; private set; }
    internal long DocUrl { get; private set; }

    public int SampleCount => Samples.Count;

    public int SampleTypeCount => SampleTypes.Count;

    /// <summary>pprof's default sample type: the one named by default_sample_type, else the last.</summary>
    public int DefaultSampleTypeIndex()
    {
        if (DefaultSampleType != 0)
        {
            var name = String(DefaultSampleType);
            for (var i = 0; i < SampleTypes.Count; i++)
            {
                if (String(SampleTypes[i].Type).SequenceEqual(name))
                    return i;
            }
        }

        return SampleTypes.Count - 1;
    }

    /// <summary>The name of one sample type (e.g. "cpu", "alloc_space").</summary>
    public string SampleTypeName(int index) => System.Text.Encoding.UTF8.GetString(String(SampleTypes[index].Type));

    /// <summary>The sum of one sample type over all samples.</summary>
    public long Total(int sampleType)
    {
        long total = 0;
        if (sampleType < 0)
            return total;
        foreach (ref readonly var sample in Samples.AsSpan())
            total += SampleValues[sample.ValueStart + sampleType];
        return total;
    }

    internal ReadOnlySpan<byte> String(long index)
    {
        var (start, length) = Strings[(int)index];
        return Buffer.AsSpan(start, length);
    }

    /// <summary>Parses and validates <paramref name="buffer"/>[0..length), replacing what this instance held.</summary>
    internal void Load(byte[] buffer, int length)
    {
        Clear();
        Buffer = buffer;
        DecodedLength = length;
        var reader = new ProtoReader(buffer.AsSpan(0, length));
        while (!reader.End)
        {
            var field = reader.ReadTag(out var wire);
            switch (field)
            {
                case 1: SampleTypes.Add(ReadValueType(reader.ReadLengthDelimited())); break;
                case 2: ReadSample(reader.ReadLengthDelimited()); break;
                case 3: ReadMapping(reader.ReadLengthDelimited()); break;
                case 4: ReadLocation(reader.ReadLengthDelimited()); break;
                case 5: ReadFunction(reader.ReadLengthDelimited()); break;
                case 6:
                    reader.ReadLengthDelimited(out var start);
                    Strings.Add((start, reader.Position - start));
                    break;
                case 7: DropFrames = (long)reader.ReadVarintField(wire); break;
                case 8: KeepFrames = (long)reader.ReadVarintField(wire); break;
                case 9: TimeNanos = (long)reader.ReadVarintField(wire); break;
                case 10: DurationNanos = (long)reader.ReadVarintField(wire); break;
                case 11: PeriodType = ReadValueType(reader.ReadLengthDelimited()); break;
                case 12: Period = (long)reader.ReadVarintField(wire); break;
                case 13: reader.ReadRepeated(wire, Comments); break;
                case 14: DefaultSampleType = (long)reader.ReadVarintField(wire); break;
                case 15: DocUrl = (long)reader.ReadVarintField(wire); break;
                default: reader.Skip(wire); break;
            }
        }

        Validate();
    }

    internal void Clear()
    {
        SampleTypes.Clear();
        Samples.Clear();
        SampleLocations.Clear();
        SampleValues.Clear();
        Labels.Clear();
        Mappings.Clear();
        Locations.Clear();
        Lines.Clear();
        Functions.Clear();
        Strings.Clear();
        Comments.Clear();
        DecodedLength = 0;
        TimeNanos = DurationNanos = Period = DropFrames = KeepFrames = DefaultSampleType = DocUrl = 0;
        PeriodType = default;
    }

    /// <summary>
    /// Ends the decode's reservation, and drops arrays larger than <paramref name="keepUpTo"/> bytes: one huge
    /// profile must not pin memory in a reused instance for good.
    /// </summary>
    internal void Release(long keepUpTo)
    {
        Clear();
        if (Buffer.Length > keepUpTo)
            Buffer = [];
        SampleTypes.Trim(keepUpTo);
        Samples.Trim(keepUpTo);
        SampleLocations.Trim(keepUpTo);
        SampleValues.Trim(keepUpTo);
        Labels.Trim(keepUpTo);
        Mappings.Trim(keepUpTo);
        Locations.Trim(keepUpTo);
        Lines.Trim(keepUpTo);
        Functions.Trim(keepUpTo);
        Strings.Trim(keepUpTo);
        Comments.Trim(keepUpTo);
        LocationIndex.Trim(keepUpTo);
        MappingIndex.Trim(keepUpTo);
        FunctionIndex.Trim(keepUpTo);
        Meter.End(RetainedBytes);
    }

    /// <summary>The bytes of the arrays this instance keeps for the next profile.</summary>
    internal long RetainedBytes =>
        Buffer.Length + SampleTypes.CapacityBytes + Samples.CapacityBytes + SampleLocations.CapacityBytes + SampleValues.CapacityBytes
        + Labels.CapacityBytes + Mappings.CapacityBytes + Locations.CapacityBytes + Lines.CapacityBytes + Functions.CapacityBytes
        + Strings.CapacityBytes + Comments.CapacityBytes + LocationIndex.CapacityBytes + MappingIndex.CapacityBytes + FunctionIndex.CapacityBytes;

    private static (long, long) ReadValueType(ReadOnlySpan<byte> message)
    {
        long type = 0, unit = 0;
        var reader = new ProtoReader(message);
        while (!reader.End)
        {
            var field = reader.ReadTag(out var wire);
            if (field == 1)
                type = (long)reader.ReadVarintField(wire);
            else if (field == 2)
                unit = (long)reader.ReadVarintField(wire);
            else
                reader.Skip(wire);
        }

        return (type, unit);
    }

    private void ReadSample(ReadOnlySpan<byte> message)
    {
        var sample = new RawSample { LocationStart = SampleLocations.Count, ValueStart = SampleValues.Count, LabelStart = Labels.Count };
        var reader = new ProtoReader(message);
        while (!reader.End)
        {
            var field = reader.ReadTag(out var wire);
            switch (field)
            {
                case 1: reader.ReadRepeated(wire, SampleLocations); break;
                case 2: reader.ReadRepeated(wire, SampleValues); break;
                case 3: Labels.Add(ReadLabel(reader.ReadLengthDelimited())); break;
                default: reader.Skip(wire); break;
            }
        }

        sample.LocationCount = SampleLocations.Count - sample.LocationStart;
        sample.ValueCount = SampleValues.Count - sample.ValueStart;
        sample.LabelCount = Labels.Count - sample.LabelStart;
        Samples.Add(sample);
    }

    private static RawLabel ReadLabel(ReadOnlySpan<byte> message)
    {
        var label = default(RawLabel);
        var reader = new ProtoReader(message);
        while (!reader.End)
        {
            var field = reader.ReadTag(out var wire);
            switch (field)
            {
                case 1: label.Key = (long)reader.ReadVarintField(wire); break;
                case 2: label.Str = (long)reader.ReadVarintField(wire); break;
                case 3: label.Num = (long)reader.ReadVarintField(wire); break;
                case 4: label.NumUnit = (long)reader.ReadVarintField(wire); break;
                default: reader.Skip(wire); break;
            }
        }

        return label;
    }

    private void ReadMapping(ReadOnlySpan<byte> message)
    {
        var m = default(RawMapping);
        var reader = new ProtoReader(message);
        while (!reader.End)
        {
            var field = reader.ReadTag(out var wire);
            switch (field)
            {
                case 1: m.Id = reader.ReadVarintField(wire); break;
                case 2: m.MemoryStart = reader.ReadVarintField(wire); break;
                case 3: m.MemoryLimit = reader.ReadVarintField(wire); break;
                case 4: m.FileOffset = reader.ReadVarintField(wire); break;
                case 5: m.Filename = (long)reader.ReadVarintField(wire); break;
                case 6: m.BuildId = (long)reader.ReadVarintField(wire); break;
                case 7: m.HasFunctions = reader.ReadVarintField(wire) != 0; break;
                case 8: m.HasFilenames = reader.ReadVarintField(wire) != 0; break;
                case 9: m.HasLineNumbers = reader.ReadVarintField(wire) != 0; break;
                case 10: m.HasInlineFrames = reader.ReadVarintField(wire) != 0; break;
                default: reader.Skip(wire); break;
            }
        }

        Mappings.Add(m);
    }

    private void ReadLocation(ReadOnlySpan<byte> message)
    {
        var l = new RawLocation { LineStart = Lines.Count };
        var reader = new ProtoReader(message);
        while (!reader.End)
        {
            var field = reader.ReadTag(out var wire);
            switch (field)
            {
                case 1: l.Id = reader.ReadVarintField(wire); break;
                case 2: l.MappingId = reader.ReadVarintField(wire); break;
                case 3: l.Address = reader.ReadVarintField(wire); break;
                case 4: Lines.Add(ReadLine(reader.ReadLengthDelimited())); break;
                case 5: l.IsFolded = reader.ReadVarintField(wire) != 0; break;
                default: reader.Skip(wire); break;
            }
        }

        l.LineCount = Lines.Count - l.LineStart;
        Locations.Add(l);
    }

    private static RawLine ReadLine(ReadOnlySpan<byte> message)
    {
        var line = default(RawLine);
        var reader = new ProtoReader(message);
        while (!reader.End)
        {
            var field = reader.ReadTag(out var wire);
            switch (field)
            {
                case 1: line.FunctionId = reader.ReadVarintField(wire); break;
                case 2: line.Line = (long)reader.ReadVarintField(wire); break;
                case 3: line.Column = (long)reader.ReadVarintField(wire); break;
                default: reader.Skip(wire); break;
            }
        }

        return line;
    }

    private void ReadFunction(ReadOnlySpan<byte> message)
    {
        var f = default(RawFunction);
        var reader = new ProtoReader(message);
        while (!reader.End)
        {
            var field = reader.ReadTag(out var wire);
            switch (field)
            {
                case 1: f.Id = reader.ReadVarintField(wire); break;
                case 2: f.Name = (long)reader.ReadVarintField(wire); break;
                case 3: f.SystemName = (long)reader.ReadVarintField(wire); break;
                case 4: f.Filename = (long)reader.ReadVarintField(wire); break;
                case 5: f.StartLine = (long)reader.ReadVarintField(wire); break;
                default: reader.Skip(wire); break;
            }
        }

        Functions.Add(f);
    }

    /// <summary>
    /// The checks of Go's profile.Parse and CheckValid: every id a sample, location or line refers to exists,
    /// every string index is in range, there are sample types and samples, and each sample has one value per
    /// sample type.
    /// </summary>
    private void Validate()
    {
        var strings = Strings.Count;
        if (strings == 0 || Strings[0].Length != 0)
            throw new MalformedProfileException("string_table[0] must be the empty string");

        CheckString(DropFrames, "drop_frames");
        CheckString(KeepFrames, "keep_frames");
        CheckString(DefaultSampleType, "default_sample_type");
        CheckString(DocUrl, "doc_url");
        CheckString(PeriodType.Type, "period_type");
        CheckString(PeriodType.Unit, "period_type");
        foreach (var c in Comments.AsSpan())
            CheckString(c, "comment");
        foreach (var (type, unit) in SampleTypes.AsSpan())
        {
            CheckString(type, "sample_type");
            CheckString(unit, "sample_type");
        }

        var mappings = Mappings.AsSpan();
        MappingIndex.Build(mappings.Length, i => Mappings[i].Id, "mapping");
        foreach (ref readonly var m in mappings)
        {
            CheckString(m.Filename, "mapping filename");
            CheckString(m.BuildId, "mapping build_id");
        }

        var functions = Functions.AsSpan();
        FunctionIndex.Build(functions.Length, i => Functions[i].Id, "function");
        foreach (ref readonly var f in functions)
        {
            CheckString(f.Name, "function name");
            CheckString(f.SystemName, "function system_name");
            CheckString(f.Filename, "function filename");
        }

        LocationIndex.Build(Locations.Count, i => Locations[i].Id, "location");
        foreach (ref readonly var l in Locations.AsSpan())
        {
            if (l.MappingId != 0 && MappingIndex.IndexOf(l.MappingId) < 0)
                throw new MalformedProfileException($"location {l.Id} refers to unknown mapping {l.MappingId}");
            foreach (ref readonly var line in Lines.Slice(l.LineStart, l.LineCount))
            {
                if (line.FunctionId != 0 && FunctionIndex.IndexOf(line.FunctionId) < 0)
                    throw new MalformedProfileException($"location {l.Id} refers to unknown function {line.FunctionId}");
            }
        }

        if (SampleTypes.Count == 0)
            throw new MalformedProfileException("profile has no sample types: nothing says what its values measure");
        if (Samples.Count == 0)
            throw MalformedProfileException.NoSamples();

        var types = SampleTypes.Count;
        foreach (ref readonly var s in Samples.AsSpan())
        {
            if (s.ValueCount != types)
                throw new MalformedProfileException($"sample has {s.ValueCount} values for {types} sample types");
            foreach (var id in SampleLocations.Slice(s.LocationStart, s.LocationCount))
            {
                if (LocationIndex.IndexOf(id) < 0)
                    throw new MalformedProfileException($"sample refers to unknown location {id}");
            }

            foreach (ref readonly var label in Labels.Slice(s.LabelStart, s.LabelCount))
            {
                CheckString(label.Key, "label key");
                CheckString(label.Str, "label value");
                CheckString(label.NumUnit, "label unit");
            }
        }
    }

    private void CheckString(long index, string what)
    {
        if ((ulong)index >= (ulong)Strings.Count)
            throw new MalformedProfileException($"{what} string index {index} out of range [0, {Strings.Count})");
    }
}

internal struct RawSample
{
    public int LocationStart, LocationCount, ValueStart, ValueCount, LabelStart, LabelCount;
}

internal struct RawLabel
{
    public long Key, Str, Num, NumUnit;
}

internal struct RawMapping
{
    public ulong Id, MemoryStart, MemoryLimit, FileOffset;
    public long Filename, BuildId;
    public bool HasFunctions, HasFilenames, HasLineNumbers, HasInlineFrames;
}

internal struct RawLocation
{
    public ulong Id, MappingId, Address;
    public int LineStart, LineCount;
    public bool IsFolded;
}

internal struct RawLine
{
    public ulong FunctionId;
    public long Line, Column;
}

internal struct RawFunction
{
    public ulong Id;
    public long Name, SystemName, Filename, StartLine;
}
