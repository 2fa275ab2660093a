using System.Runtime.InteropServices;

namespace Hotpath.Agent.Perf;

/// <summary>Where a ring's samples go: one per sample of a task, with its call chain (user frames, leaf first).</summary>
internal interface IPerfSampleSink
{
    void Add(int pid, int tid, ulong periodNanos, ReadOnlySpan<ulong> callchain);

    void Lost(ulong samples);
}

/// <summary>
/// One CPU's <c>cpu-clock</c> sampling event and its memory-mapped ring of records, read in place: the
/// kernel writes at <c>data_head</c>, this reader consumes up to it and hands <c>data_tail</c> back. Only a
/// record that wraps around the ring's end is copied.
/// </summary>
internal sealed unsafe class PerfRing : IDisposable
{
    // perf_event_mmap_page: data_head, data_tail, data_offset, data_size.
    private const int HeadOffset = 1024, TailOffset = 1032, DataOffsetOffset = 1040, DataSizeOffset = 1048;

    private readonly int _fd;
    private readonly nint _base;
    private readonly nuint _length;
    private readonly byte* _data;
    private readonly ulong _size;
    private readonly byte[] _scratch = new byte[64 * 1024];

    private PerfRing(int fd, nint mapped, nuint length)
    {
        _fd = fd;
        _base = mapped;
        _length = length;
        var dataOffset = *(ulong*)(mapped + DataOffsetOffset);
        var dataSize = *(ulong*)(mapped + DataSizeOffset);
        var page = (ulong)Environment.SystemPageSize;
        // Kernels before 4.1 leave these zero: the data then starts at the second page.
        _data = (byte*)(mapped + (nint)(dataOffset == 0 ? page : dataOffset));
        _size = dataSize == 0 ? length - page : dataSize;
    }

    /// <summary>Opens a system-wide sampling event on one CPU at <paramref name="frequency"/> Hz; null with the errno when the kernel refuses.</summary>
    public static PerfRing? Open(int cpu, int frequency, int dataPages, out int errno)
    {
        var attr = new PerfNative.EventAttr
        {
            Type = PerfNative.TypeSoftware,
            Config = PerfNative.CountSwCpuClock,
            SampleFrequency = (ulong)frequency,
            SampleType = PerfNative.SampleTid | PerfNative.SampleTime | PerfNative.SamplePeriod | PerfNative.SampleCallchain,
            // Started disabled, enabled once mapped; kernel frames are left out of call chains (user stacks only).
            Flags = PerfNative.FlagDisabled | PerfNative.FlagFreq | PerfNative.FlagExcludeCallchainKernel,
        };
        var fd = PerfNative.Open(ref attr, pid: -1, cpu, out errno);
        if (fd < 0)
            return null;
        var length = (nuint)((1 + dataPages) * Environment.SystemPageSize);
        var mapped = PerfNative.Map(fd, length);
        if (PerfNative.IsMapFailure(mapped))
        {
            errno = Marshal.GetLastPInvokeError();
            PerfNative.Close(fd);
            return null;
        }

        var ring = new PerfRing(fd, mapped, length);
        if (!PerfNative.Enable(fd))
        {
            errno = Marshal.GetLastPInvokeError();
            ring.Dispose();
            return null;
        }

        return ring;
    }

    /// <summary>Hands every record the kernel has written since the last drain to the sink.</summary>
    public void Drain(IPerfSampleSink sink)
    {
        var head = Volatile.Read(ref *(ulong*)(_base + HeadOffset)); // acquire: records before head are complete
        var tail = *(ulong*)(_base + TailOffset);
        while (tail < head)
        {
            var offset = tail % _size;
            // Records are 8-byte multiples in a ring of whole pages: a header never straddles the end.
            var type = *(uint*)(_data + offset);
            var size = *(ushort*)(_data + offset + 6);
            if (size < 8)
                break; // not a record: stop rather than spin
            ReadOnlySpan<byte> record;
            if (offset + size <= _size)
            {
                record = new ReadOnlySpan<byte>(_data + offset, size);
            }
            else
            {
                var first = (int)(_size - offset);
                new ReadOnlySpan<byte>(_data + offset, first).CopyTo(_scratch);
                new ReadOnlySpan<byte>(_data, size - first).CopyTo(_scratch.AsSpan(first));
                record = _scratch.AsSpan(0, size);
            }

            Read(type, record, sink);
            tail += size;
        }

        Volatile.Write(ref *(ulong*)(_base + TailOffset), tail); // release: the kernel may reuse what was read
    }

    private static void Read(uint type, ReadOnlySpan<byte> record, IPerfSampleSink sink)
    {
        if (type == PerfNative.RecordLost && record.Length >= 24)
        {
            sink.Lost(MemoryMarshal.Read<ulong>(record[16..]));
            return;
        }

        // PERF_RECORD_SAMPLE with TID | TIME | PERIOD | CALLCHAIN: pid, tid, time, period, nr, ips[nr].
        if (type != PerfNative.RecordSample || record.Length < 40)
            return;
        var pid = MemoryMarshal.Read<int>(record[8..]);
        var tid = MemoryMarshal.Read<int>(record[12..]);
        var period = MemoryMarshal.Read<ulong>(record[24..]);
        var count = MemoryMarshal.Read<ulong>(record[32..]);
        if (count > (ulong)((record.Length - 40) / 8))
            return;
        sink.Add(pid, tid, period, MemoryMarshal.Cast<byte, ulong>(record.Slice(40, (int)count * 8)));
    }

    public void Dispose()
    {
        PerfNative.Unmap(_base, _length);
        PerfNative.Close(_fd);
    }
}
