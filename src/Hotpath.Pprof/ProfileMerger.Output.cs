using System.IO.Compression;
using System.Text;
using Google.Protobuf;
using Hotpath.Pprof.Proto;
using static Google.Protobuf.CodedOutputStream;

namespace Hotpath.Pprof;

/// <summary>The merge's output: the generated model for analyses, or its encoding straight from the tables for storage.</summary>
public sealed partial class ProfileMerger
{
    // Field numbers of profile.proto.
    private const int ProfileSampleType = 1, ProfileSample = 2, ProfileMapping = 3, ProfileLocation = 4, ProfileFunction = 5,
        ProfileStringTable = 6, ProfileDropFrames = 7, ProfileKeepFrames = 8, ProfileTimeNanos = 9, ProfileDurationNanos = 10,
        ProfilePeriodType = 11, ProfilePeriod = 12, ProfileComment = 13, ProfileDefaultSampleType = 14, ProfileDocUrl = 15;

    /// <summary>Builds the merged profile. The merger can keep accepting profiles afterwards.</summary>
    public Profile Build()
    {
        var sampleTypes = _sampleTypes ?? throw new InvalidOperationException("no profiles to merge");
        var result = new Profile
        {
            TimeNanos = _timeNanos,
            DurationNanos = _durationNanos,
            Period = _period,
            PeriodType = new Proto.ValueType { Type = _periodType.Type, Unit = _periodType.Unit },
            DropFrames = _dropFrames,
            KeepFrames = _keepFrames,
            DefaultSampleType = _defaultSampleType,
            DocUrl = _docUrl,
        };
        foreach (var (type, unit) in sampleTypes)
            result.SampleType.Add(new Proto.ValueType { Type = type, Unit = unit });
        result.Comment.AddRange(_comments);

        result.Sample.Capacity = _sampleKeys.Count;
        for (var i = 0; i < _sampleKeys.Count; i++)
        {
            var values = _sampleValues[i];
            if (IsZero(values)) // positive and negative inputs can cancel out
                continue;
            result.Sample.Add(BuildSample(_sampleKeys[i], values));
        }

        for (var i = 0; i < _mappings.Count; i++)
        {
            var m = _mappings[i];
            result.Mapping.Add(new Mapping
            {
                Id = (ulong)i + 1,
                MemoryStart = m.MemoryStart,
                MemoryLimit = m.MemoryLimit,
                FileOffset = m.FileOffset,
                Filename = m.Filename,
                BuildId = m.BuildId,
                HasFunctions = m.HasFunctions,
                HasFilenames = m.HasFilenames,
                HasLineNumbers = m.HasLineNumbers,
                HasInlineFrames = m.HasInlineFrames,
            });
        }

        result.Location.Capacity = _locations.Count;
        for (var i = 0; i < _locations.Count; i++)
        {
            var l = _locations[i];
            var location = new Location { Id = (ulong)i + 1, MappingId = l.MappingId, Address = l.Address, IsFolded = l.IsFolded };
            for (var j = l.LineStart; j < l.LineStart + l.LineCount; j++)
                location.Line.Add(new Line { FunctionId = _lines[j].FunctionId, Line_ = _lines[j].Line, Column = _lines[j].Column });
            result.Location.Add(location);
        }

        result.Function.Capacity = _functions.Count;
        for (var i = 0; i < _functions.Count; i++)
        {
            var f = _functions[i];
            result.Function.Add(new Function { Id = (ulong)i + 1, Name = f.Name, SystemName = f.SystemName, Filename = f.Filename, StartLine = f.StartLine });
        }

        result.StringTable.Capacity = _strings.Count;
        foreach (var s in _strings)
            result.StringTable.Add(Encoding.UTF8.GetString(s));
        return result;
    }

    /// <summary>The merged profile gzipped, as <see cref="ProfileEncoder"/> writes <see cref="Build"/>'s, without building it.</summary>
    public byte[] ToGzipBytes(CompressionLevel level = CompressionLevel.Fastest) => ProfileEncoder.ToGzipBytes(WriteTo, level);

    /// <summary>The merged profile's protobuf bytes, uncompressed.</summary>
    public byte[] ToBytes() => ProfileEncoder.ToBytes(WriteTo);

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

    /// <summary>The fields in number order and defaults left out, byte for byte what the generated model writes.</summary>
    private void WriteTo(CodedOutputStream output)
    {
        var sampleTypes = _sampleTypes ?? throw new InvalidOperationException("no profiles to merge");
        foreach (var (type, unit) in sampleTypes)
            WriteValueType(output, ProfileSampleType, type, unit);

        for (var i = 0; i < _sampleKeys.Count; i++)
        {
            if (!IsZero(_sampleValues[i]))
                WriteSample(output, _sampleKeys[i], _sampleValues[i]);
        }

        for (var i = 0; i < _mappings.Count; i++)
            WriteMapping(output, (ulong)i + 1, _mappings[i]);
        for (var i = 0; i < _locations.Count; i++)
            WriteLocation(output, (ulong)i + 1, _locations[i]);
        for (var i = 0; i < _functions.Count; i++)
            WriteFunction(output, (ulong)i + 1, _functions[i]);
        foreach (var s in _strings)
        {
            output.WriteTag(ProfileStringTable, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(UnsafeByteOperations.UnsafeWrap(s));
        }

        WriteInt64(output, ProfileDropFrames, _dropFrames);
        WriteInt64(output, ProfileKeepFrames, _keepFrames);
        WriteInt64(output, ProfileTimeNanos, _timeNanos);
        WriteInt64(output, ProfileDurationNanos, _durationNanos);
        WriteValueType(output, ProfilePeriodType, _periodType.Type, _periodType.Unit);
        WriteInt64(output, ProfilePeriod, _period);
        if (_comments.Count > 0)
        {
            output.WriteTag(ProfileComment, WireFormat.WireType.LengthDelimited);
            output.WriteLength(_comments.Sum(ComputeInt64Size));
            foreach (var c in _comments)
                output.WriteInt64(c);
        }

        WriteInt64(output, ProfileDefaultSampleType, _defaultSampleType);
        WriteInt64(output, ProfileDocUrl, _docUrl);
    }

    private static void WriteValueType(CodedOutputStream output, int field, long type, long unit)
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteLength(Int64Size(type) + Int64Size(unit));
        WriteInt64(output, 1, type);
        WriteInt64(output, 2, unit);
    }

    private static void WriteSample(CodedOutputStream output, ulong[] key, long[] values)
    {
        var locations = (int)key[0];
        var ids = key.AsSpan(1, locations);
        var labels = key.AsSpan(1 + locations);
        var idsSize = 0;
        foreach (var id in ids)
            idsSize += ComputeUInt64Size(id);
        var valuesSize = 0;
        foreach (var v in values)
            valuesSize += ComputeInt64Size(v);
        var size = Packed(idsSize) + Packed(valuesSize);
        for (var i = 0; i < labels.Length; i += 4)
            size += Nested(LabelSize(labels.Slice(i, 4)));

        output.WriteTag(ProfileSample, WireFormat.WireType.LengthDelimited);
        output.WriteLength(size);
        if (idsSize > 0)
        {
            output.WriteTag(1, WireFormat.WireType.LengthDelimited);
            output.WriteLength(idsSize);
            foreach (var id in ids)
                output.WriteUInt64(id);
        }

        if (valuesSize > 0)
        {
            output.WriteTag(2, WireFormat.WireType.LengthDelimited);
            output.WriteLength(valuesSize);
            foreach (var v in values)
                output.WriteInt64(v);
        }

        for (var i = 0; i < labels.Length; i += 4)
        {
            var label = labels.Slice(i, 4);
            output.WriteTag(3, WireFormat.WireType.LengthDelimited);
            output.WriteLength(LabelSize(label));
            for (var field = 0; field < 4; field++)
                WriteInt64(output, field + 1, (long)label[field]);
        }

        static int Packed(int size) => size == 0 ? 0 : Nested(size);

        static int LabelSize(ReadOnlySpan<ulong> label) =>
            Int64Size((long)label[0]) + Int64Size((long)label[1]) + Int64Size((long)label[2]) + Int64Size((long)label[3]);
    }

    private static void WriteMapping(CodedOutputStream output, ulong id, MergedMapping m)
    {
        output.WriteTag(ProfileMapping, WireFormat.WireType.LengthDelimited);
        output.WriteLength(UInt64Size(id) + UInt64Size(m.MemoryStart) + UInt64Size(m.MemoryLimit) + UInt64Size(m.FileOffset)
            + Int64Size(m.Filename) + Int64Size(m.BuildId)
            + BoolSize(m.HasFunctions) + BoolSize(m.HasFilenames) + BoolSize(m.HasLineNumbers) + BoolSize(m.HasInlineFrames));
        WriteUInt64(output, 1, id);
        WriteUInt64(output, 2, m.MemoryStart);
        WriteUInt64(output, 3, m.MemoryLimit);
        WriteUInt64(output, 4, m.FileOffset);
        WriteInt64(output, 5, m.Filename);
        WriteInt64(output, 6, m.BuildId);
        WriteBool(output, 7, m.HasFunctions);
        WriteBool(output, 8, m.HasFilenames);
        WriteBool(output, 9, m.HasLineNumbers);
        WriteBool(output, 10, m.HasInlineFrames);
    }

    private void WriteLocation(CodedOutputStream output, ulong id, MergedLocation l)
    {
        var lines = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_lines).Slice(l.LineStart, l.LineCount);
        var size = UInt64Size(id) + UInt64Size(l.MappingId) + UInt64Size(l.Address) + BoolSize(l.IsFolded);
        foreach (ref readonly var line in lines)
            size += Nested(LineSize(line));

        output.WriteTag(ProfileLocation, WireFormat.WireType.LengthDelimited);
        output.WriteLength(size);
        WriteUInt64(output, 1, id);
        WriteUInt64(output, 2, l.MappingId);
        WriteUInt64(output, 3, l.Address);
        foreach (ref readonly var line in lines)
        {
            output.WriteTag(4, WireFormat.WireType.LengthDelimited);
            output.WriteLength(LineSize(line));
            WriteUInt64(output, 1, line.FunctionId);
            WriteInt64(output, 2, line.Line);
            WriteInt64(output, 3, line.Column);
        }

        WriteBool(output, 5, l.IsFolded);

        static int LineSize(in MergedLine line) => UInt64Size(line.FunctionId) + Int64Size(line.Line) + Int64Size(line.Column);
    }

    private static void WriteFunction(CodedOutputStream output, ulong id, FunctionKey f)
    {
        output.WriteTag(ProfileFunction, WireFormat.WireType.LengthDelimited);
        output.WriteLength(UInt64Size(id) + Int64Size(f.Name) + Int64Size(f.SystemName) + Int64Size(f.Filename) + Int64Size(f.StartLine));
        WriteUInt64(output, 1, id);
        WriteInt64(output, 2, f.Name);
        WriteInt64(output, 3, f.SystemName);
        WriteInt64(output, 4, f.Filename);
        WriteInt64(output, 5, f.StartLine);
    }

    // Proto3 scalars: a field at its default is not written. Every field number here is below 16 (a one-byte tag).
    private static int Int64Size(long value) => value == 0 ? 0 : 1 + ComputeInt64Size(value);

    private static int UInt64Size(ulong value) => value == 0 ? 0 : 1 + ComputeUInt64Size(value);

    private static int BoolSize(bool value) => value ? 2 : 0;

    private static int Nested(int size) => 1 + ComputeLengthSize(size) + size;

    private static void WriteInt64(CodedOutputStream output, int field, long value)
    {
        if (value == 0)
            return;
        output.WriteTag(field, WireFormat.WireType.Varint);
        output.WriteInt64(value);
    }

    private static void WriteUInt64(CodedOutputStream output, int field, ulong value)
    {
        if (value == 0)
            return;
        output.WriteTag(field, WireFormat.WireType.Varint);
        output.WriteUInt64(value);
    }

    private static void WriteBool(CodedOutputStream output, int field, bool value)
    {
        if (!value)
            return;
        output.WriteTag(field, WireFormat.WireType.Varint);
        output.WriteBool(value);
    }
}
