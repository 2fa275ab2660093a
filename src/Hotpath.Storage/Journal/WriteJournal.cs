using System.Buffers.Binary;
using System.Globalization;
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

    private readonly string _directory;
    private readonly FileStream _lock;
    private readonly Lock _gate = new();
    private readonly Dictionary<long, int> _live = [];
    private SafeFileHandle _active;
    private long _activeId;
    private long _length;
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
        var segments = Directory.EnumerateFiles(directory, "*.journal")
            .Select(f => long.TryParse(Path.GetFileNameWithoutExtension(f), NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : -1)
            .Where(id => id > 0).Order().ToList();
        foreach (var segment in segments)
            recovered.AddRange(Replay(segment));
        Recovered = recovered;
        foreach (var entry in recovered)
            Count(entry, +1);

        _activeId = segments.Count > 0 ? segments[^1] + 1 : 1;
        _active = Create(_activeId);
        foreach (var segment in segments.Where(s => !_live.ContainsKey(s)))
            File.Delete(PathOf(segment));
    }

    /// <summary>The records the journal held when it was opened, oldest first: acknowledged, maybe not shipped.</summary>
    public IReadOnlyList<JournalEntry> Recovered { get; }

    /// <summary>Bytes of the records not released yet.</summary>
    public long LiveBytes => Interlocked.Read(ref _liveBytes);

    /// <summary>Bytes of the journal's files on disk.</summary>
    public long SizeBytes => Directory.EnumerateFiles(_directory, "*.journal").Sum(f => new FileInfo(f).Length);

    /// <summary>
    /// Appends the records and syncs them to disk; once this returns, every one of them survives a crash. Not
    /// thread-safe: one writer (a <see cref="GroupCommit{TWrite}"/> loop) calls it.
    /// </summary>
    public IReadOnlyList<JournalEntry> Append(IReadOnlyList<(ProfileMeta Meta, ReadOnlyMemory<byte> Body)> records)
    {
        var entries = new JournalEntry[records.Count];
        var full = new List<SafeFileHandle>(1);
        var (startSegment, start) = (_activeId, _length);
        try
        {
            AppendCore(records, entries, full);
            foreach (var handle in full)
            {
                RandomAccess.FlushToDisk(handle);
                handle.Dispose();
            }

            RandomAccess.FlushToDisk(_active);
        }
        catch (IOException) when (_activeId == startSegment)
        {
            // A batch that did not go in whole (disk full, a failed sync) is not acknowledged: it must not come
            // back at replay.
            RandomAccess.SetLength(_active, start);
            _length = start;
            throw;
        }

        foreach (var entry in entries)
            Count(entry, +1);
        return entries;
    }

    private void AppendCore(IReadOnlyList<(ProfileMeta Meta, ReadOnlyMemory<byte> Body)> records, JournalEntry[] entries, List<SafeFileHandle> full)
    {
        for (var i = 0; i < records.Count; i++)
        {
            var (meta, body) = records[i];
            var header = MetaCodec.Encode(meta);
            var size = HeaderBytes + header.Length + body.Length;
            if (_length > 0 && _length + size > MaxSegmentBytes)
                Roll(full);
            var record = new byte[size];
            BinaryPrimitives.WriteUInt32LittleEndian(record, Magic);
            BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(4), header.Length);
            BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(8), body.Length);
            header.CopyTo(record.AsSpan(HeaderBytes));
            body.Span.CopyTo(record.AsSpan(HeaderBytes + header.Length));
            BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(12), Crc32.HashToUInt32(record.AsSpan(HeaderBytes)));
            RandomAccess.Write(_active, record, _length);
            entries[i] = new JournalEntry(meta, _activeId, _length + HeaderBytes + header.Length, body.Length, size);
            _length += size;
        }
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
                        handle = File.OpenHandle(PathOf(segment), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
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
            if (Count(entry, -1) == 0 && entry.Segment != Volatile.Read(ref _activeId))
                File.Delete(PathOf(entry.Segment));
        }
    }

    private int Count(JournalEntry entry, int delta)
    {
        lock (_gate)
        {
            _live[entry.Segment] = _live.GetValueOrDefault(entry.Segment) + delta;
            Interlocked.Add(ref _liveBytes, delta * entry.RecordBytes);
            var left = _live[entry.Segment];
            if (left == 0)
                _live.Remove(entry.Segment);
            return left;
        }
    }

    /// <summary>The records of a segment up to the first that is cut short or does not match its CRC (a crash mid-append); the rest is cut off.</summary>
    private List<JournalEntry> Replay(long segment)
    {
        var entries = new List<JournalEntry>();
        using var handle = File.OpenHandle(PathOf(segment), FileMode.Open, FileAccess.ReadWrite);
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

    private void Roll(List<SafeFileHandle> full)
    {
        full.Add(_active);
        var next = _activeId + 1;
        _active = Create(next);
        _length = 0;
        var previous = Interlocked.Exchange(ref _activeId, next);
        lock (_gate)
        {
            // Every record of the segment that just filled may have been released already.
            if (!_live.ContainsKey(previous))
                File.Delete(PathOf(previous));
        }
    }

    private SafeFileHandle Create(long id) =>
        File.OpenHandle(PathOf(id), FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);

    private string PathOf(long id) => Path.Combine(_directory, id.ToString("D6", CultureInfo.InvariantCulture) + ".journal");

    public void Dispose()
    {
        _active.Dispose();
        if (_length == 0 || !_live.ContainsKey(_activeId))
            File.Delete(PathOf(_activeId));
        _lock.Dispose();
    }
}
