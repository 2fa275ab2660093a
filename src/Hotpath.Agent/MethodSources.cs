using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Hotpath.Agent;

/// <summary>
/// The source of methods, from their assemblies' portable PDBs (beside the assembly or embedded in it): the
/// file, the first line, and the line of each IL offset (the PDB's sequence points), which a frame's IL offset
/// (from the runtime's IL-to-native map) turns into the statement that ran. Assemblies without a PDB (the
/// framework's) give no source.
/// </summary>
internal sealed class MethodSources : IDisposable
{
    private const int MethodDefTable = 0x06;
    private readonly Dictionary<string, MetadataReaderProvider?> _pdbs = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Module, int Token), MethodSource?> _methods = [];
    private readonly Dictionary<string, Dictionary<string, int>> _tokensByName = new(StringComparer.Ordinal);

    /// <summary>Where method <paramref name="methodToken"/> of the assembly at <paramref name="modulePath"/> is, if its PDB says.</summary>
    public MethodSource? Find(string? modulePath, int methodToken)
    {
        if (string.IsNullOrEmpty(modulePath) || methodToken >>> 24 != MethodDefTable)
            return null;
        if (!_methods.TryGetValue((modulePath, methodToken), out var source))
        {
            source = Read(Pdb(modulePath), methodToken);
            _methods[(modulePath, methodToken)] = source;
        }

        return source;
    }

    /// <summary>
    /// Where a method named as the samplers name it (<c>Namespace.Type.Method</c>, nested types joined by
    /// <c>+</c>) starts, for frames that come by name only (the perf map's); an overloaded name gives its first.
    /// </summary>
    public MethodSource? FindByName(string? modulePath, string function)
    {
        if (string.IsNullOrEmpty(modulePath))
            return null;
        if (!_tokensByName.TryGetValue(modulePath, out var tokens))
            _tokensByName[modulePath] = tokens = MethodTokens(modulePath);
        return tokens.TryGetValue(function, out var token) ? Find(modulePath, token) : null;
    }

    private static Dictionary<string, int> MethodTokens(string modulePath)
    {
        var tokens = new Dictionary<string, int>(StringComparer.Ordinal);
        try
        {
            using var assembly = new PEReader(File.OpenRead(modulePath));
            var metadata = assembly.GetMetadataReader();
            string TypeName(TypeDefinition type)
            {
                var name = metadata.GetString(type.Name);
                var declaring = type.GetDeclaringType();
                if (!declaring.IsNil)
                    return TypeName(metadata.GetTypeDefinition(declaring)) + "+" + name;
                var space = metadata.GetString(type.Namespace);
                return space.Length == 0 ? name : space + "." + name;
            }

            foreach (var handle in metadata.TypeDefinitions)
            {
                var type = metadata.GetTypeDefinition(handle);
                var typeName = TypeName(type);
                foreach (var methodHandle in type.GetMethods())
                    tokens.TryAdd(typeName + "." + metadata.GetString(metadata.GetMethodDefinition(methodHandle).Name), MetadataTokens.GetToken(methodHandle));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or BadImageFormatException or InvalidOperationException)
        {
            // Gone, unreadable, or not a managed assembly: no sources for its methods.
        }

        return tokens;
    }

    public void Dispose()
    {
        foreach (var pdb in _pdbs.Values)
            pdb?.Dispose();
        _pdbs.Clear();
    }

    private MetadataReaderProvider? Pdb(string modulePath)
    {
        if (_pdbs.TryGetValue(modulePath, out var opened))
            return opened;
        MetadataReaderProvider? pdb = null;
        try
        {
            using var assembly = new PEReader(File.OpenRead(modulePath));
            // Checks that the PDB found is the assembly's (by its id), so that a stale one beside it is not used.
            assembly.TryOpenAssociatedPortablePdb(modulePath, path => File.Exists(path) ? File.OpenRead(path) : null, out pdb, out _);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or BadImageFormatException)
        {
            // Gone, unreadable, or not a PE file: no source for its methods.
        }

        _pdbs[modulePath] = pdb;
        return pdb;
    }

    private static MethodSource? Read(MetadataReaderProvider? pdb, int methodToken)
    {
        if (pdb is null)
            return null;
        try
        {
            var reader = pdb.GetMetadataReader();
            var method = MetadataTokens.MethodDebugInformationHandle(methodToken & 0xFFFFFF);
            DocumentHandle document = default;
            List<int> offsets = [], lines = [];
            // In IL order; a point of another document (a #line directive) is left out rather than misplaced.
            foreach (var point in reader.GetMethodDebugInformation(method).GetSequencePoints())
            {
                if (point.IsHidden || (!document.IsNil && point.Document != document))
                    continue;
                document = point.Document;
                offsets.Add(point.Offset);
                lines.Add(point.StartLine);
            }

            if (!document.IsNil)
                return new MethodSource(reader.GetString(reader.GetDocument(document).Name), [.. offsets], [.. lines]);
        }
        catch (Exception e) when (e is BadImageFormatException or ArgumentException)
        {
            // A token past the PDB's method table: a method the compiler did not emit (e.g. runtime-generated).
        }

        return null;
    }
}

/// <summary>A method's source file and the lines of its statements by IL offset (ascending).</summary>
internal sealed class MethodSource(string file, int[] offsets, int[] lines)
{
    public string File { get; } = file;

    /// <summary>The method's first statement's line.</summary>
    public int StartLine => lines[0];

    /// <summary>The line of the statement that IL offset <paramref name="ilOffset"/> belongs to.</summary>
    public int LineAt(int ilOffset)
    {
        var i = Array.BinarySearch(offsets, ilOffset);
        return lines[Math.Max(0, i < 0 ? ~i - 1 : i)];
    }
}
