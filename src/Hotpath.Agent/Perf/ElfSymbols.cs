using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;

namespace Hotpath.Agent.Perf;

/// <summary>
/// The function symbols of an ELF64 little-endian file (<c>.symtab</c>, else <c>.dynsym</c>: libcoreclr's,
/// libc's, the dotnet host's), for naming native frames by address. Read once per file.
/// </summary>
internal sealed unsafe class ElfSymbols
{
    private const uint SymbolTable = 2, DynamicSymbols = 11, Load = 1;

    private readonly ulong[] _starts;
    private readonly ulong[] _ends;
    private readonly string[] _names;
    private readonly (ulong Offset, ulong Size, ulong Address)[] _segments;

    private ElfSymbols(List<(ulong Start, ulong Size, string Name)> symbols, (ulong, ulong, ulong)[] segments)
    {
        symbols.Sort((a, b) => a.Start.CompareTo(b.Start));
        _starts = [.. symbols.Select(s => s.Start)];
        _ends = [.. symbols.Select(s => s.Start + Math.Max(1, s.Size))];
        _names = [.. symbols.Select(s => s.Name)];
        _segments = segments;
    }

    public static ElfSymbols Empty { get; } = new([], []);

    /// <summary>
    /// The file's symbols; <see cref="Empty"/> for a file that cannot be read or is not ELF64. The file is
    /// mapped, not read: only its headers and symbol tables are touched (libcoreclr.so is 7 MB, the framework's
    /// ReadyToRun assemblies, mapped executable too, more).
    /// </summary>
    public static ElfSymbols Read(string path)
    {
        try
        {
            using var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            using var view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            var handle = view.SafeMemoryMappedViewHandle;
            byte* pointer = null;
            handle.AcquirePointer(ref pointer);
            try
            {
                return Parse(new ReadOnlySpan<byte>(pointer + view.PointerOffset, (int)Math.Min((long)handle.ByteLength - view.PointerOffset, int.MaxValue)));
            }
            finally
            {
                handle.ReleasePointer();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or IndexOutOfRangeException)
        {
            return Empty; // gone, not ours, empty (a file of length 0 cannot be mapped), or not what its headers say
        }
    }

    internal static ElfSymbols Parse(ReadOnlySpan<byte> elf)
    {
        // ELF64, little endian.
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F' || elf[4] != 2 || elf[5] != 1)
            return Empty;
        var programHeaders = BinaryPrimitives.ReadUInt64LittleEndian(elf[32..]);
        var sectionHeaders = BinaryPrimitives.ReadUInt64LittleEndian(elf[40..]);
        var programSize = BinaryPrimitives.ReadUInt16LittleEndian(elf[54..]);
        var programCount = BinaryPrimitives.ReadUInt16LittleEndian(elf[56..]);
        var sectionSize = BinaryPrimitives.ReadUInt16LittleEndian(elf[58..]);
        var sectionCount = BinaryPrimitives.ReadUInt16LittleEndian(elf[60..]);

        var segments = new List<(ulong, ulong, ulong)>();
        for (var i = 0; i < programCount; i++)
        {
            var header = elf[(int)(programHeaders + (ulong)(i * programSize))..];
            if (BinaryPrimitives.ReadUInt32LittleEndian(header) == Load)
                segments.Add((BinaryPrimitives.ReadUInt64LittleEndian(header[8..]), BinaryPrimitives.ReadUInt64LittleEndian(header[32..]), BinaryPrimitives.ReadUInt64LittleEndian(header[16..])));
        }

        static ReadOnlySpan<byte> Section(ReadOnlySpan<byte> elf, ulong sectionHeaders, ushort sectionSize, int index, out uint type, out uint link, out ulong entrySize)
        {
            var header = elf[(int)(sectionHeaders + (ulong)(index * sectionSize))..];
            type = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
            var offset = BinaryPrimitives.ReadUInt64LittleEndian(header[24..]);
            var size = BinaryPrimitives.ReadUInt64LittleEndian(header[32..]);
            link = BinaryPrimitives.ReadUInt32LittleEndian(header[40..]);
            entrySize = BinaryPrimitives.ReadUInt64LittleEndian(header[56..]);
            return type == 8 ? [] : elf.Slice((int)offset, (int)size); // SHT_NOBITS has no bytes
        }

        var symbols = new List<(ulong, ulong, string)>();
        foreach (var wanted in new[] { SymbolTable, DynamicSymbols })
        {
            for (var i = 0; i < sectionCount && symbols.Count == 0; i++)
            {
                var table = Section(elf, sectionHeaders, sectionSize, i, out var type, out var link, out var entrySize);
                if (type != wanted || entrySize < 24)
                    continue;
                var strings = Section(elf, sectionHeaders, sectionSize, (int)link, out _, out _, out _);
                for (var at = 0; at + (int)entrySize <= table.Length; at += (int)entrySize)
                {
                    var symbol = table[at..];
                    var info = symbol[4];
                    var value = BinaryPrimitives.ReadUInt64LittleEndian(symbol[8..]);
                    if ((info & 0xf) != 2 || value == 0) // STT_FUNC, defined
                        continue;
                    var name = BinaryPrimitives.ReadUInt32LittleEndian(symbol);
                    var end = strings[(int)name..].IndexOf((byte)0);
                    symbols.Add((value, BinaryPrimitives.ReadUInt64LittleEndian(symbol[16..]), Encoding.UTF8.GetString(strings.Slice((int)name, Math.Max(0, end)))));
                }
            }

            if (symbols.Count > 0)
                break;
        }

        return new ElfSymbols(symbols, [.. segments]);
    }

    /// <summary>The function at a file offset (where a mapping of the file puts an address), or null.</summary>
    public string? At(ulong fileOffset)
    {
        ulong? address = null;
        foreach (var (offset, size, virtualAddress) in _segments)
        {
            if (fileOffset >= offset && fileOffset < offset + size)
            {
                address = fileOffset - offset + virtualAddress;
                break;
            }
        }

        if (address is not { } a)
            return null;
        var i = Array.BinarySearch(_starts, a);
        if (i < 0)
            i = ~i - 1;
        return i >= 0 && a < _ends[i] ? _names[i] : null;
    }
}
