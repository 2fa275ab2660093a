using Microsoft.Win32.SafeHandles;

namespace Hotpath.Storage.Sqlite;

/// <summary>
/// Profile bodies, appended to segment files beside the database (<c>bodies/000001.seg</c>, …) and located by
/// (segment, offset, length) in the metadata rows. Bodies are written once, never through the WAL, and take
/// exactly their own size on disk. A segment is deleted once retention has removed every profile in it.
/// Only the write loop appends; anyone may read.
/// </summary>
internal sealed class BodyLog : IDisposable
{
    private readonly string _directory;
    private readonly long _maxSegmentBytes;
    private SafeFileHandle _active;
    private long _activeId;
    private long _length;

    /// <summary>Opens the log where the last commit left it: later bytes (a batch that never committed) are cut off.</summary>
    public BodyLog(string directory, long maxSegmentBytes, long committedSegment, long committedEnd, IReadOnlySet<long> liveSegments)
    {
        _directory = directory;
        _maxSegmentBytes = maxSegmentBytes;
        Directory.CreateDirectory(directory);
        foreach (var file in Directory.EnumerateFiles(directory, "*.seg"))
        {
            // A segment no committed row refers to is left over from a crash (or a retention run cut short).
            if (!long.TryParse(Path.GetFileNameWithoutExtension(file), out var id) || (id != committedSegment && !liveSegments.Contains(id)))
                File.Delete(file);
        }

        _activeId = Math.Max(committedSegment, 1);
        _active = OpenForAppend(_activeId);
        RandomAccess.SetLength(_active, committedEnd);
        _length = committedEnd;
    }

    /// <summary>The segment appends go to; retention never deletes it.</summary>
    public long ActiveSegment => Volatile.Read(ref _activeId);

    /// <summary>The end of the last append in the active segment.</summary>
    public long ActiveEnd => _length;

    /// <summary>Appends the bodies, syncs them to disk, and says where each one went.</summary>
    public void Append(IReadOnlyList<ReadOnlyMemory<byte>> bodies, Span<(long Segment, long Offset)> placements)
    {
        var synced = new List<SafeFileHandle>(1);
        for (var i = 0; i < bodies.Count; i++)
        {
            if (_length > 0 && _length + bodies[i].Length > _maxSegmentBytes)
                Roll(synced);
            RandomAccess.Write(_active, bodies[i].Span, _length);
            placements[i] = (_activeId, _length);
            _length += bodies[i].Length;
        }

        foreach (var handle in synced)
        {
            RandomAccess.FlushToDisk(handle);
            handle.Dispose();
        }

        RandomAccess.FlushToDisk(_active);
    }

    /// <summary>Forgets an append whose batch did not commit.</summary>
    public void Rewind(long segment, long end)
    {
        if (segment != _activeId)
        {
            _active.Dispose();
            for (var id = _activeId; id > segment; id--)
                File.Delete(PathOf(id));
            Volatile.Write(ref _activeId, segment);
            _active = OpenForAppend(segment);
        }

        RandomAccess.SetLength(_active, end);
        _length = end;
    }

    /// <summary>A reader of bodies that keeps each segment it touches open until disposed.</summary>
    public Reader OpenReader() => new(this);

    /// <summary>Reads bodies by place, opening each segment once; one reader per caller, not shared.</summary>
    public sealed class Reader(BodyLog log) : IDisposable
    {
        private readonly Dictionary<long, SafeFileHandle> _handles = [];

        public byte[] Read(long segment, long offset, int length)
        {
            if (!_handles.TryGetValue(segment, out var handle))
                _handles[segment] = handle = File.OpenHandle(log.PathOf(segment), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var body = new byte[length];
            return FileBytes.TryReadExactly(handle, body, offset) ? body : throw new IOException($"profile body in segment {segment} at {offset} is cut short");
        }

        public void Dispose()
        {
            foreach (var handle in _handles.Values)
                handle.Dispose();
            _handles.Clear();
        }
    }

    /// <summary>Deletes a segment no profile refers to any more.</summary>
    public void Delete(long segment)
    {
        if (segment != ActiveSegment)
            File.Delete(PathOf(segment));
    }

    public long SizeBytes => Directory.EnumerateFiles(_directory, "*.seg").Sum(f => new FileInfo(f).Length);

    private void Roll(List<SafeFileHandle> synced)
    {
        synced.Add(_active);
        var next = _activeId + 1;
        _active = OpenForAppend(next);
        RandomAccess.SetLength(_active, 0);
        _length = 0;
        Volatile.Write(ref _activeId, next);
    }

    private SafeFileHandle OpenForAppend(long id) =>
        File.OpenHandle(PathOf(id), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);

    private string PathOf(long id) => Path.Combine(_directory, id.ToString("D6", System.Globalization.CultureInfo.InvariantCulture) + ".seg");

    public void Dispose() => _active.Dispose();
}
