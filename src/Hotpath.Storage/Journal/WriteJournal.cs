using System.Buffers.Binary;
using System.IO.Hashing;
using Microsoft.Win32.SafeHandles;

namespace Hotpath.Storage.Journal;

/// <summary>One acknowledged profile in the journal: its metadata and where its body lies.</summary>
public sealed record JournalEntry(ProfileMeta Meta, long Segment, long BodyOffset, int BodyLength, long RecordBytes);

/// <summary>
/// Profiles acknowledged before a remote engine has them: appended to segment files in a local folder
/// (<c>000001.journal</c>, …) and synced to disk before the append completes, so they survive a kill -9 or a
/// power cut. Each record carries its metadata, its body and a CRC-32 of both; opening the journal replays the
/// records still in it and cuts off a record a crash left half-written. A segment is deleted once every
/// record in it is <see cref="Release">released</see> (shipped). One process at a time: a lock file says so.
/// </summary>
public sealed class WriteJournal : IDisposable
{
    private const uint Magic = 0x314a5048; // "HPJ1"
    private const int HeaderBytes = 16; // magic, meta length, body length, CRC-32
    private const long MaxSegmentBytes = 64L << 20;
    private const string Extension = ".journal";

    private readonly string _directory;
    private readonly FileStream _lock;
    private readonly Lock _gate = new();
    private readonly Dictionary<long, int> _live = [];
    private readonly SegmentFiles _files;
    private long _liveBytes;

    /// <summary>Opens (or creates) the journal in <paramref name="directory"/>; <see cref="Recovered"/> lists what it still holds.</summary>
    /// <exception cref="IOException">Another process holds the journal.</exception>
    public WriteJournal(string directory)
    {
        _directory = directory;
        Directory.CreateDirectory(directory);
        try
        {
            _lock = new FileStream(Path.Combine(directory, "LOCK"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new IOException($"the journal {Path.GetFullPath(directory)} is in use by another collector; give each collector its own (Storage:JournalDirectory)", e);
        }

        var recovered = new List<JournalEntry>();
        var segments = SegmentFiles.Existing(directory, Extension);
        foreach (var segment in segments)
            recovered.AddRange(Replay(segment));
        Recovered = recovered;
        foreach (var entry in recovered)
            Count(entry, +1);

        _files = new SegmentFiles(directory, Extension, MaxSegmentBytes, segments.Count > 0 ? segments[^1] + 1 : 1, 0);
        foreach (var segment in segments.Where(s => !_live.ContainsKey(s)))
            _files.Delete(segment);
    }

    /// <summary>The records the journal held when it was opened, oldest first: acknowledged, maybe not shipped.</summary>
    public IReadOnlyList<JournalEntry> Recovered { get; }

    /// <summary>Bytes of the records not released yet.</summary>
    public long LiveBytes => Interlocked.Read(ref _liveBytes);

    /// <summary>Bytes of the journal's files on disk.</summary>
    public long SizeBytes => _files.SizeBytes;

    /// <summary>
    /// Appends the records and syncs them to disk; once this returns, every one of them survives a crash. Not
    /// thread-safe: one writer (a <see cref="GroupCommit{TWrite}"/> loop) calls it.
    /// </summary>
    public IReadOnlyList<JournalEntry> Append(IReadOnlyList<(ProfileMeta Meta, ReadOnlyMemory<byte> Body)> records)
    {
        var entries = new JournalEntry[records.Count];
        var (startSegment, start) = (_files.ActiveSegment, _files.ActiveEnd);
        // Pinned while this batch writes into it: a release of its older records must not delete it once it rolls.
        Pin(startSegment, +1);
        try
        {
            try
            {
                for (var i = 0; i < records.Count; i++)
                    entries[i] = AppendRecord(records[i].Meta, records[i].Body);
                _files.Sync();
            }
            catch (IOException)
            {
                // A batch that did not go in whole (disk full, a failed sync) is not acknowledged: it must not come
                // back at replay.
                _files.Truncate(startSegment, start);
                throw;
            }

            foreach (var entry in entries)
                Count(entry, +1);
        }
        finally
        {
            Pin(startSegment, -1);
        }

        lock (_gate)
        {
            // Every record of a segment this batch filled and rolled past may have been released already.
            for (var segment = startSegment; segment < _files.ActiveSegment; segment++)
            {
                if (!_live.ContainsKey(segment))
                    _files.Delete(segment);
            }
        }

        return entries;
    }

    private JournalEntry AppendRecord(ProfileMeta meta, ReadOnlyMemory<byte> body)
    {
        var header = MetaCodec.Encode(meta);
        var size = HeaderBytes + header.Length + body.Length;
        var record = new byte[size];
        BinaryPrimitives.WriteUInt32LittleEndian(record, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(4), header.Length);
        BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(8), body.Length);
        header.CopyTo(record.AsSpan(HeaderBytes));
        body.Span.CopyTo(record.AsSpan(HeaderBytes + header.Length));
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(12), Crc32.HashToUInt32(record.AsSpan(HeaderBytes)));
        var (segment, offset) = _files.Append(record);
        return new JournalEntry(meta, segment, offset + HeaderBytes + header.Length, body.Length, size);
    }

    /// <summary>Reads entries' bodies, opening each segment once; null for one whose segment is gone (released meanwhile).</summary>
    public IEnumerable<byte[]?> ReadBodies(IEnumerable<JournalEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        SafeFileHandle? handle = null;
        var segment = -1L;
        try
        {
            foreach (var entry in entries)
            {
                if (entry.Segment != segment)
                {
                    handle?.Dispose();
                    handle = null;
                    segment = entry.Segment;
                    try
                    {
                        handle = _files.OpenRead(segment);
                    }
                    catch (FileNotFoundException)
                    {
                        // released and deleted: the caller reads it from the engine
                    }
                }

                var body = new byte[entry.BodyLength];
                yield return handle is not null && FileBytes.TryReadExactly(handle, body, entry.BodyOffset) ? body : null;
            }
        }
        finally
        {
            handle?.Dispose();
        }
    }

    /// <summary>The engine has these records: they need not survive any more, and a segment of released records only is deleted.</summary>
    public void Release(IEnumerable<JournalEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach (var entry in entries)
        {
            if (Count(entry, -1) == 0)
                _files.Delete(entry.Segment);
        }
    }

    private int Count(JournalEntry entry, int delta)
    {
        Interlocked.Add(ref _liveBytes, delta * entry.RecordBytes);
        return Pin(entry.Segment, delta);
    }

    /// <summary>Adds to what keeps a segment: its live records, and the writer while it appends there.</summary>
    private int Pin(long segment, int delta)
    {
        lock (_gate)
        {
            var left = _live[segment] = _live.GetValueOrDefault(segment) + delta;
            if (left == 0)
                _live.Remove(segment);
            return left;
        }
    }

    /// <summary>The records of a segment up to the first that is cut short or does not match its CRC (a crash mid-append); the rest is cut off.</summary>
    private List<JournalEntry> Replay(long segment)
    {
        var entries = new List<JournalEntry>();
        using var handle = File.OpenHandle(SegmentFiles.PathOf(_directory, Extension, segment), FileMode.Open, FileAccess.ReadWrite);
        var length = RandomAccess.GetLength(handle);
        var header = new byte[HeaderBytes];
        long offset = 0;
        while (offset + HeaderBytes <= length)
        {
            if (!FileBytes.TryReadExactly(handle, header, offset) || BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic)
                break;
            var metaLength = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(4));
            var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(8));
            if (metaLength < 0 || bodyLength < 0 || offset + HeaderBytes + (long)metaLength + bodyLength > length)
                break;
            var payload = new byte[metaLength + bodyLength];
            if (!FileBytes.TryReadExactly(handle, payload, offset + HeaderBytes) || Crc32.HashToUInt32(payload) != BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(12)))
                break;
            var meta = MetaCodec.Decode(payload.AsSpan(0, metaLength));
            var size = HeaderBytes + metaLength + bodyLength;
            entries.Add(new JournalEntry(meta, segment, offset + HeaderBytes + metaLength, bodyLength, size));
            offset += size;
        }

        if (offset < length)
            RandomAccess.SetLength(handle, offset);
        return entries;
    }

    public void Dispose()
    {
        var (active, empty) = (_files.ActiveSegment, _files.ActiveEnd == 0);
        _files.Dispose();
        if (empty || !_live.ContainsKey(active))
            File.Delete(_files.PathOf(active));
        _lock.Dispose();
    }
}
