using Microsoft.Win32.SafeHandles;

namespace Hotpath.Storage;

/// <summary>Positional reads of the engines' own files (body segments, the write journal).</summary>
internal static class FileBytes
{
    /// <summary>Fills <paramref name="buffer"/> from <paramref name="offset"/>; false when the file ends first.</summary>
    public static bool TryReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = RandomAccess.Read(handle, buffer[read..], offset + read);
            if (n == 0)
                return false;
            read += n;
        }

        return true;
    }
}
