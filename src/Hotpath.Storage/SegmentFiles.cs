using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Hotpath.Storage;

/// <summary>
/// Numbered files in one folder (<c>000001.seg</c>, …) that one writer appends to, a new one once the active one
/// would pass a size, and that anyone may read by (segment, offset): the embedded store's body log and the write
/// journal. Appends are made durable by <see cref="Sync"/>; a batch that did not go in whole is cut off by
/// <see cref="Truncate"/>. Not thread-safe for writes: one writer loop appends.
/// </summary>
internal sealed class SegmentFiles : IDisposable
{
    private readonly string _directory;
    private readonly string _extension;
    private readonly long _maxSegmentBytes;
    private readonly List<SafeFileHandle> _rolled = [];
    private SafeFileHandle _active;
    private long _activeId;
    private long _length;

    /// <summary>Opens <paramref name="activeId"/> for appends at <paramref name="activeEnd"/>; later bytes (an append that never counted) are cut off.</summary>
    /// <param name="extension">The files' extension, with its dot.</param>
    public SegmentFiles(string directory, string extension, long maxSegmentBytes, long activeId, long activeEnd)
    {
        _directory = directory;
        _extension = extension;
        _maxSegmentBytes = maxSegmentBytes;
        Directory.CreateDirectory(directory);
        _activeId = activeId;
        _active = OpenForAppend(activeId);
        RandomAccess.SetLength(_active, activeEnd);
        _length = activeEnd;
    }

    /// <summary>The numbers of the segment files in the folder, in order.</summary>
    public static IReadOnlyList<long> Existing(string directory, string extension) => Directory.Exists(directory)
        ? [.. Directory.EnumerateFiles(directory, "*" + extension)
            .Select(f => long.TryParse(Path.GetFileNameWithoutExtension(f), NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : -1)
            .Where(id => id > 0).Order()]
        : [];

    /// <summary>The segment appends go to; never deleted while it is.</summary>
    public long ActiveSegment => Volatile.Read(ref _activeId);

    /// <summary>The end of the last append in the active segment.</summary>
    public long ActiveEnd => _length;

    /// <summary>Bytes of the segment files on disk.</summary>
    public long SizeBytes => Directory.EnumerateFiles(_directory, "*" + _extension).Sum(f => new FileInfo(f).Length);

    /// <summary>Writes the bytes at the end of the active segment, first rolling to a new one when they would make it pass the size; where they went.</summary>
    public (long Segment, long Offset) Append(ReadOnlySpan<byte> bytes)
    {
        if (_length > 0 && _length + bytes.Length > _maxSegmentBytes)
            Roll();
        RandomAccess.Write(_active, bytes, _length);
        var place = (_activeId, _length);
        _length += bytes.Length;
        return place;
    }

    /// <summary>Syncs to disk what was appended since the last sync: the segments rolled past (then closed) and the active one.</summary>
    public void Sync()
    {
        foreach (var handle in _rolled)
        {
            RandomAccess.FlushToDisk(handle);
            handle.Dispose();
        }

        _rolled.Clear();
        RandomAccess.FlushToDisk(_active);
    }

    /// <summary>Forgets what was appended after <paramref name="end"/> of <paramref name="segment"/> (a batch that did not go in whole), segments rolled to since included.</summary>
    public void Truncate(long segment, long end)
    {
        foreach (var handle in _rolled)
            handle.Dispose();
        _rolled.Clear();
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

    /// <summary>Opens a segment to read, shared with the writer and with deletes; throws <see cref="FileNotFoundException"/> when it is gone.</summary>
    public SafeFileHandle OpenRead(long segment) =>
        File.OpenHandle(PathOf(segment), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

    /// <summary>Deletes a segment no record refers to any more; never the active one.</summary>
    public void Delete(long segment)
    {
        if (segment != ActiveSegment)
            File.Delete(PathOf(segment));
    }

    public string PathOf(long id) => PathOf(_directory, _extension, id);

    public static string PathOf(string directory, string extension, long id) =>
        Path.Combine(directory, id.ToString("D6", CultureInfo.InvariantCulture) + extension);

    private void Roll()
    {
        _rolled.Add(_active);
        var next = _activeId + 1;
        _active = OpenForAppend(next);
        RandomAccess.SetLength(_active, 0);
        _length = 0;
        Volatile.Write(ref _activeId, next);
    }

    private SafeFileHandle OpenForAppend(long id) =>
        File.OpenHandle(PathOf(id), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);

    public void Dispose()
    {
        foreach (var handle in _rolled)
            handle.Dispose();
        _active.Dispose();
    }
}
