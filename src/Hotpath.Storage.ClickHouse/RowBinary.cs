using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Hotpath.Storage.ClickHouse;

/// <summary>ClickHouse's RowBinary format: little-endian numbers, varint-length strings and arrays.</summary>
internal sealed class RowBinaryWriter
{
    private readonly ArrayBufferWriter<byte> _buffer;

    /// <summary>A writer whose buffer starts at <paramref name="capacity"/> bytes (it grows past them as needed).</summary>
    public RowBinaryWriter(int capacity = 64 * 1024) => _buffer = new ArrayBufferWriter<byte>(capacity);

    public ReadOnlyMemory<byte> Written => _buffer.WrittenMemory;

    public void UInt8(byte value) => _buffer.Write([value]);

    public void UInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
    }

    public void Int64(long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
    }

    public void String(string value) => Bytes(Encoding.UTF8.GetBytes(value));

    public void Bytes(ReadOnlySpan<byte> value)
    {
        Varint((ulong)value.Length);
        _buffer.Write(value);
    }

    public void Strings(IReadOnlyList<string> values)
    {
        Varint((ulong)values.Count);
        foreach (var value in values)
            String(value);
    }

    private void Varint(ulong value)
    {
        while (value >= 0x80)
        {
            UInt8((byte)(value | 0x80));
            value >>= 7;
        }

        UInt8((byte)value);
    }
}

internal ref struct RowBinaryReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    public readonly bool End => _position >= _data.Length;

    public byte UInt8() => _data[_position++];

    public uint UInt32()
    {
        var value = BinaryPrimitives.ReadUInt32LittleEndian(_data[_position..]);
        _position += 4;
        return value;
    }

    public long Int64()
    {
        var value = BinaryPrimitives.ReadInt64LittleEndian(_data[_position..]);
        _position += 8;
        return value;
    }

    public ReadOnlySpan<byte> Bytes()
    {
        var length = (int)Varint();
        var value = _data.Slice(_position, length);
        _position += length;
        return value;
    }

    public string String() => Encoding.UTF8.GetString(Bytes());

    public List<string> Strings()
    {
        var count = (int)Varint();
        var values = new List<string>(count);
        for (var i = 0; i < count; i++)
            values.Add(String());
        return values;
    }

    private ulong Varint()
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = _data[_position++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
                return value;
        }
    }
}
