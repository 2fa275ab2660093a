namespace Hotpath.Pprof;

/// <summary>
/// A forward-only protobuf wire-format reader over a span, with every length checked against what is left,
/// so that hostile input ends in <see cref="MalformedProfileException"/>, never an out-of-range access.
/// </summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> data)
{
    public const int Varint = 0;
    public const int Fixed64 = 1;
    public const int LengthDelimited = 2;
    public const int Fixed32 = 5;

    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    public readonly bool End => _position >= _data.Length;

    public readonly int Position => _position;

    /// <summary>Reads a field key; field numbers start at 1.</summary>
    public int ReadTag(out int wireType)
    {
        var key = ReadVarint();
        wireType = (int)(key & 7);
        var field = key >> 3;
        if (field == 0 || field > int.MaxValue)
            throw NotProtobuf($"invalid protobuf field number {field} at byte {_position}");
        return (int)field;
    }

    public ulong ReadVarint()
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _data.Length)
                throw NotProtobuf("truncated protobuf varint");
            var b = _data[_position++];
            result |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
                return result;
        }

        throw NotProtobuf("protobuf varint longer than 10 bytes");
    }

    public long ReadInt64() => (long)ReadVarint();

    /// <summary>Reads a length-delimited field's bytes; <paramref name="start"/> is their offset in the whole input.</summary>
    public ReadOnlySpan<byte> ReadLengthDelimited(out int start)
    {
        var length = ReadVarint();
        if (length > (ulong)(_data.Length - _position))
            throw NotProtobuf("protobuf field longer than its message");
        start = _position;
        _position += (int)length;
        return _data.Slice(start, (int)length);
    }

    public ReadOnlySpan<byte> ReadLengthDelimited() => ReadLengthDelimited(out _);

    /// <summary>Reads a varint field of a message, rejecting another wire type.</summary>
    public ulong ReadVarintField(int wireType) =>
        wireType == Varint ? ReadVarint() : throw NotProtobuf($"wire type {wireType} where a varint belongs");

    /// <summary>Reads a repeated uint64 field, packed or not, appending each value.</summary>
    public void ReadRepeated(int wireType, ValueList<ulong> target)
    {
        if (wireType == Varint)
        {
            target.Add(ReadVarint());
            return;
        }

        var packed = new ProtoReader(ReadPacked(wireType));
        while (!packed.End)
            target.Add(packed.ReadVarint());
    }

    /// <summary>Reads a repeated int64 field, packed or not, appending each value.</summary>
    public void ReadRepeated(int wireType, ValueList<long> target)
    {
        if (wireType == Varint)
        {
            target.Add(ReadInt64());
            return;
        }

        var packed = new ProtoReader(ReadPacked(wireType));
        while (!packed.End)
            target.Add(packed.ReadInt64());
    }

    private ReadOnlySpan<byte> ReadPacked(int wireType) =>
        wireType == LengthDelimited
            ? ReadLengthDelimited()
            : throw NotProtobuf($"wire type {wireType} where a repeated integer belongs");

    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case Varint:
                ReadVarint();
                break;
            case Fixed64:
                Advance(8);
                break;
            case LengthDelimited:
                ReadLengthDelimited();
                break;
            case Fixed32:
                Advance(4);
                break;
            default:
                throw NotProtobuf($"unsupported protobuf wire type {wireType}");
        }
    }

    private static MalformedProfileException NotProtobuf(string reason) => new("not a protobuf profile: " + reason);

    private void Advance(int count)
    {
        if (count > _data.Length - _position)
            throw NotProtobuf("truncated protobuf field");
        _position += count;
    }
}
