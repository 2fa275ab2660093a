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
    private const string Extension = ".seg";

    private readonly SegmentFiles _files;

    /// <summary>Opens the log where the last commit left it: later bytes (a batch that never committed) are cut off.</summary>
    public BodyLog(string directory, long maxSegmentBytes, long committedSegment, long committedEnd, IReadOnlySet<long> liveSegments)
    {
        committedSegment = Math.Max(committedSegment, 1);
        // A segment no committed row refers to is left over from a crash (or a retention run cut short).
        foreach (var file in Directory.Exists(directory) ? Directory.EnumerateFiles(directory, "*" + Extension) : [])
        {
            if (!long.TryParse(Path.GetFileNameWithoutExtension(file), out var id) || (id != committedSegment && !liveSegments.Contains(id)))
                File.Delete(file);
        }

        _files = new SegmentFiles(directory, Extension, maxSegmentBytes, committedSegment, committedEnd);
    }

    /// <summary>The segment appends go to; retention never deletes it.</summary>
    public long ActiveSegment => _files.ActiveSegment;

    /// <summary>The end of the last append in the active segment.</summary>
    public long ActiveEnd => _files.ActiveEnd;

    /// <summary>Appends the bodies, syncs them to disk, and says where each one went.</summary>
    public void Append(IReadOnlyList<ReadOnlyMemory<byte>> bodies, Span<(long Segment, long Offset)> placements)
    {
        for (var i = 0; i < bodies.Count; i++)
            placements[i] = _files.Append(bodies[i].Span);
        _files.Sync();
    }

    /// <summary>Forgets an append whose batch did not commit.</summary>
    public void Rewind(long segment, long end) => _files.Truncate(segment, end);

    /// <summary>A reader of bodies that keeps each segment it touches open until disposed.</summary>
    public Reader OpenReader() => new(_files);

    /// <summary>Reads bodies by place, opening each segment once; one reader per caller, not shared.</summary>
    public sealed class Reader(SegmentFiles files) : IDisposable
    {
        private readonly Dictionary<long, SafeFileHandle> _handles = [];

        public byte[] Read(long segment, long offset, int length)
        {
            if (!_handles.TryGetValue(segment, out var handle))
                _handles[segment] = handle = files.OpenRead(segment);
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
    public void Delete(long segment) => _files.Delete(segment);

    public long SizeBytes => _files.SizeBytes;

    public void Dispose() => _files.Dispose();
}
