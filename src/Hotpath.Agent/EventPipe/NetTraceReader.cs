using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Hotpath.Pprof;

namespace Hotpath.Agent.EventPipe;

/// <summary>What an event is: its provider and id, and the version that sets its payload's layout.</summary>
internal readonly record struct EventKind(string Provider, int Id, int Version);

/// <summary>One event as the stream gives it; its payload lasts only as long as the callback.</summary>
internal readonly ref struct TraceEventRecord(EventKind kind, long threadId, long timestamp, int stack, ReadOnlySpan<byte> payload)
{
    public EventKind Kind { get; } = kind;

    public long ThreadId { get; } = threadId;

    /// <summary>In ticks of <see cref="NetTraceReader.TicksPerSecond"/>.</summary>
    public long Timestamp { get; } = timestamp;

    /// <summary>An index into <see cref="NetTraceReader.Stacks"/>, or -1 when the event has no stack.</summary>
    public int Stack { get; } = stack;

    public ReadOnlySpan<byte> Payload { get; } = payload;
}

/// <summary>
/// Reads the NetTrace (format 5) stream an EventPipe session sends, as the runtime writes it, one block at a
/// time: the metadata that names each event, the stacks (kept, each distinct one once, for the stream's
/// life) and the events, handed to a callback with their stack. It replaces TraceEvent's TraceLog in the
/// agent: the TraceLog keeps a whole trace's state and its code is most of what profiling in-process cost
/// in memory (see bench/README.md). Format: perfview's NetTraceFormat_v5.md.
/// </summary>
internal sealed class NetTraceReader : IDisposable
{
    public delegate void EventHandler(in TraceEventRecord record);

    private const byte NullReference = 1, BeginPrivateObject = 5, EndObject = 6;

    /// <summary>The runtime's blocks are at most a few hundred KB; a larger size means the stream is not what it claims.</summary>
    private const int MaxBlockBytes = 64 * 1024 * 1024;

    private static ReadOnlySpan<byte> Magic => "Nettrace"u8;
    private static ReadOnlySpan<byte> Serialization => "!FastSerialization.1"u8;

    private readonly Stream _stream;
    private readonly EventHandler _onEvent;
    private readonly Dictionary<int, EventKind> _metadata = [];
    private readonly Dictionary<int, int> _stacksById = [];
    private readonly Dictionary<ulong[], int> _stackIndexes = new(SequenceComparer<ulong>.Instance);
    private readonly List<ulong[]> _stacks = [];
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
    private long _position;

    public NetTraceReader(Stream stream, EventHandler onEvent)
    {
        // Most reads are a few bytes (tags, sizes): buffered, they cost no system call each.
        _stream = new BufferedStream(stream, 64 * 1024);
        _onEvent = onEvent;
    }

    /// <summary>The clock the events' timestamps count, from the trace's header.</summary>
    public long TicksPerSecond { get; private set; } = 1;

    /// <summary>Every distinct stack seen so far, leaf first, as instruction pointers.</summary>
    public IReadOnlyList<ulong[]> Stacks => _stacks;

    /// <summary>
    /// Reads to the end of the stream (the session stopped), calling back for each event. When reading fails,
    /// the rest of the stream is still read (and dropped) before the error is thrown: the runtime's stop of
    /// the session waits until its stream has been read, and would otherwise never return.
    /// </summary>
    /// <exception cref="FormatException">The stream is not NetTrace, or not a version this reader knows.</exception>
    public async Task ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ReadObjectsAsync(cancellationToken);
        }
        catch (Exception e) when (e is FormatException or ArgumentOutOfRangeException)
        {
            await _stream.CopyToAsync(Stream.Null, cancellationToken);
            throw e as FormatException ?? new FormatException($"an event or block cut short near offset {_position}", e);
        }
    }

    private async Task ReadObjectsAsync(CancellationToken cancellationToken)
    {
        var start = await ReadAsync(Magic.Length + 4 + Serialization.Length, cancellationToken);
        if (start.Length == 0)
            return; // the session ended before it sent anything
        if (!start.Span.StartsWith(Magic) || BinaryPrimitives.ReadInt32LittleEndian(start.Span[Magic.Length..]) != Serialization.Length
            || !start.Span[(Magic.Length + 4)..].SequenceEqual(Serialization))
            throw new FormatException("not a NetTrace stream");

        while (true)
        {
            var tag = await ReadAsync(1, cancellationToken);
            if (tag.Length == 0 || tag.Span[0] == NullReference)
                return;
            if (tag.Span[0] != BeginPrivateObject)
                throw new FormatException($"expected an object at offset {_position - 1}, found tag {tag.Span[0]}");
            var (name, version) = await ReadTypeAsync(cancellationToken);
            if (name == "Trace")
            {
                if (version != 4)
                    throw new FormatException($"NetTrace version {version} is not supported (4 is)");
                ReadTrace((await ReadAsync(48, cancellationToken)).Span);
            }
            else
            {
                var size = BinaryPrimitives.ReadInt32LittleEndian((await ReadAsync(4, cancellationToken)).Span);
                if (size is < 0 or > MaxBlockBytes)
                    throw new FormatException($"a {name} of {size} bytes");
                await ReadAsync((int)((4 - (_position & 3)) & 3), cancellationToken); // blocks start 4-byte aligned
                var block = await ReadAsync(size, cancellationToken);
                if (block.Length < size)
                    return; // cut short: the process ended
                switch (name)
                {
                    case "EventBlock": ReadEvents(block.Span, metadata: false); break;
                    case "MetadataBlock": ReadEvents(block.Span, metadata: true); break;
                    case "StackBlock": ReadStacks(block.Span); break;
                    case "SPBlock": _stacksById.Clear(); break; // stack ids are only valid up to the next sequence point
                    default: break; // a block a later format added: skipped
                }
            }

            var end = await ReadAsync(1, cancellationToken);
            if (end.Length == 0)
                return;
            if (end.Span[0] != EndObject)
                throw new FormatException($"expected the end of the {name} at offset {_position - 1}");
        }
    }

    private async Task<(string Name, int Version)> ReadTypeAsync(CancellationToken cancellationToken)
    {
        var head = await ReadAsync(14, cancellationToken);
        if (head.Length < 14 || head.Span[0] != BeginPrivateObject || head.Span[1] != NullReference)
            throw new FormatException($"expected an object's type at offset {_position - head.Length}");
        var version = BinaryPrimitives.ReadInt32LittleEndian(head.Span[2..]);
        var nameLength = BinaryPrimitives.ReadInt32LittleEndian(head.Span[10..]);
        if (nameLength is < 0 or > 64)
            throw new FormatException($"a type name of {nameLength} bytes");
        var name = Encoding.UTF8.GetString((await ReadAsync(nameLength, cancellationToken)).Span);
        if ((await ReadAsync(1, cancellationToken)).Span is not [EndObject])
            throw new FormatException($"expected the end of type {name}");
        return (name, version);
    }

    private void ReadTrace(ReadOnlySpan<byte> trace)
    {
        if (trace.Length < 48)
            throw new FormatException("the trace header is cut short");
        // SyncTimeUTC (8 shorts), SyncTimeQPC, QPCFrequency, PointerSize, ProcessId, NumberOfProcessors, ExpectedCPUSamplingRate.
        TicksPerSecond = Math.Max(1, BinaryPrimitives.ReadInt64LittleEndian(trace[24..]));
        if (BinaryPrimitives.ReadInt32LittleEndian(trace[32..]) != 8)
            throw new FormatException("only 64-bit processes are supported");
    }

    private void ReadStacks(ReadOnlySpan<byte> block)
    {
        var id = BinaryPrimitives.ReadInt32LittleEndian(block);
        var count = BinaryPrimitives.ReadInt32LittleEndian(block[4..]);
        var offset = 8;
        // Probed with the block's bytes: a stack seen before is not copied again.
        var lookup = _stackIndexes.GetAlternateLookup<ReadOnlySpan<ulong>>();
        for (var i = 0; i < count; i++, id++)
        {
            var size = BinaryPrimitives.ReadInt32LittleEndian(block[offset..]);
            offset += 4;
            if (size < 0 || size % 8 != 0 || offset + size > block.Length)
                throw new FormatException($"stack {id} of {size} bytes");
            var addresses = MemoryMarshal.Cast<byte, ulong>(block.Slice(offset, size));
            offset += size;
            if (!lookup.TryGetValue(addresses, out var index))
            {
                var copy = addresses.ToArray();
                index = _stacks.Count;
                _stacks.Add(copy);
                _stackIndexes[copy] = index;
            }

            _stacksById[id] = index;
        }
    }

    /// <summary>An event or metadata block: a header, then event blobs, their headers compressed when the flags say so.</summary>
    private void ReadEvents(ReadOnlySpan<byte> block, bool metadata)
    {
        var headerSize = BinaryPrimitives.ReadInt16LittleEndian(block);
        if (headerSize < 20 || headerSize > block.Length)
            throw new FormatException($"a block header of {headerSize} bytes");
        var compressed = (BinaryPrimitives.ReadInt16LittleEndian(block[2..]) & 1) != 0;
        var reader = new BlobReader(block, headerSize);
        var header = default(EventHeader);
        while (!reader.AtEnd)
        {
            var payloadStart = compressed ? ReadCompressedHeader(ref reader, ref header) : ReadHeader(ref reader, ref header);
            var payload = reader.Take(header.PayloadSize);
            if (!compressed)
                reader.Skip((4 - ((payloadStart + header.PayloadSize) & 3)) & 3);
            if (metadata)
                ReadMetadata(payload);
            else if (_metadata.TryGetValue(header.MetadataId, out var kind))
                _onEvent(new TraceEventRecord(kind, header.ThreadId, header.Timestamp, header.StackId > 0 && _stacksById.TryGetValue(header.StackId, out var stack) ? stack : -1, payload));
        }
    }

    private static int ReadHeader(ref BlobReader reader, ref EventHeader header)
    {
        // EventSize, MetadataId, SequenceNumber, ThreadId, CaptureThreadId, ProcessorNumber, StackId, TimeStamp, ActivityId, RelatedActivityId, PayloadSize.
        var fields = reader.Take(4 + 4 + 4 + 8 + 8 + 4 + 4 + 8 + 16 + 16 + 4);
        header.MetadataId = BinaryPrimitives.ReadInt32LittleEndian(fields[4..]) & 0x7FFF_FFFF;
        header.ThreadId = BinaryPrimitives.ReadInt64LittleEndian(fields[12..]);
        header.StackId = BinaryPrimitives.ReadInt32LittleEndian(fields[32..]);
        header.Timestamp = BinaryPrimitives.ReadInt64LittleEndian(fields[36..]);
        header.PayloadSize = BinaryPrimitives.ReadInt32LittleEndian(fields[76..]);
        return reader.Offset;
    }

    private static int ReadCompressedHeader(ref BlobReader reader, ref EventHeader header)
    {
        // Each field present only when its flag says so, else the previous event's (zeros at a block's start).
        var flags = reader.Byte();
        if ((flags & 1) != 0)
            header.MetadataId = (int)reader.VarUInt();
        if ((flags & 2) != 0)
        {
            reader.VarUInt(); // sequence number
            reader.VarUInt(); // capture thread
            reader.VarUInt(); // processor
        }

        if ((flags & 4) != 0)
            header.ThreadId = (long)reader.VarUInt();
        if ((flags & 8) != 0)
            header.StackId = (int)reader.VarUInt();
        header.Timestamp += (long)reader.VarUInt();
        if ((flags & 16) != 0)
            reader.Skip(16); // activity id
        if ((flags & 32) != 0)
            reader.Skip(16); // related activity id
        if ((flags & 128) != 0)
            header.PayloadSize = (int)reader.VarUInt();
        return reader.Offset;
    }

    /// <summary>A metadata record: id, provider, event id, event name, keywords, version, level, then the fields (not needed: the agent knows its events' layouts).</summary>
    private void ReadMetadata(ReadOnlySpan<byte> payload)
    {
        var id = BinaryPrimitives.ReadInt32LittleEndian(payload);
        var rest = payload[4..];
        var provider = Utf16.Read(ref rest);
        var eventId = BinaryPrimitives.ReadInt32LittleEndian(rest);
        rest = rest[4..];
        Utf16.Skip(ref rest);
        var version = BinaryPrimitives.ReadInt32LittleEndian(rest[8..]);
        _metadata[id] = new EventKind(provider, eventId, version);
    }

    /// <summary>The next <paramref name="count"/> bytes, fewer only at the stream's end.</summary>
    private async ValueTask<ReadOnlyMemory<byte>> ReadAsync(int count, CancellationToken cancellationToken)
    {
        if (_buffer.Length < count)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = ArrayPool<byte>.Shared.Rent(count);
        }

        var read = await _stream.ReadAtLeastAsync(_buffer.AsMemory(0, count), count, throwOnEndOfStream: false, cancellationToken);
        _position += read;
        return _buffer.AsMemory(0, read);
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }

    private struct EventHeader
    {
        public int MetadataId;
        public long ThreadId;
        public int StackId;
        public long Timestamp;
        public int PayloadSize;
    }

    /// <summary>Reads an event block's blobs, refusing to read past its end.</summary>
    private ref struct BlobReader(ReadOnlySpan<byte> block, int offset)
    {
        private readonly ReadOnlySpan<byte> _block = block;

        public int Offset { get; private set; } = offset;

        public readonly bool AtEnd => Offset >= _block.Length;

        public byte Byte() => Take(1)[0];

        public ReadOnlySpan<byte> Take(int count)
        {
            if (count < 0 || count > _block.Length - Offset)
                throw new FormatException($"an event of {count} bytes runs past its block");
            var taken = _block.Slice(Offset, count);
            Offset += count;
            return taken;
        }

        public void Skip(int count) => Take(count);

        /// <summary>Seven bits a byte, least significant first, the high bit saying another byte follows.</summary>
        public ulong VarUInt()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                var b = Byte();
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                    return value;
            }

            throw new FormatException("a variable-length number of more than 10 bytes");
        }
    }
}

/// <summary>The payloads' strings: UTF-16, little endian, ended by a zero.</summary>
internal static class Utf16
{
    public static string Read(ref ReadOnlySpan<byte> payload)
    {
        var length = Length(payload);
        var text = new string(MemoryMarshal.Cast<byte, char>(payload[..(length * 2)]));
        payload = payload[((length + 1) * 2)..];
        return text;
    }

    public static void Skip(ref ReadOnlySpan<byte> payload) => payload = payload[((Length(payload) + 1) * 2)..];

    /// <summary>The string's length in characters, its zero not counted.</summary>
    private static int Length(ReadOnlySpan<byte> payload)
    {
        var end = MemoryMarshal.Cast<byte, char>(payload[..(payload.Length & ~1)]).IndexOf('\0');
        return end >= 0 ? end : throw new FormatException("a string without its end");
    }
}
