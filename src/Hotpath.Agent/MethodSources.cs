using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Hotpath.Agent;

/// <summary>
/// The source file and first line of methods, from their assemblies' portable PDBs (beside the assembly or
/// embedded in it). EventPipe names a frame's method and module but not its line: a line needs the method's
/// IL-to-native map joined with the PDB's sequence points, which the agent does not read, so a frame is
/// placed at its method's first line, not at the statement that ran. Assemblies without a PDB (the
/// framework's) give no source.
/// </summary>
internal sealed class MethodSources : IDisposable
{
    private const int MethodDefTable = 0x06;
    private readonly Dictionary<string, MetadataReaderProvider?> _pdbs = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Module, int Token), (string File, int Line)?> _methods = [];
    private readonly Dictionary<string, Dictionary<string, int>> _tokensByName = new(StringComparer.Ordinal);

    /// <summary>Where method <paramref name="methodToken"/> of the assembly at <paramref name="modulePath"/> starts, if its PDB says.</summary>
    public (string File, int Line)? Find(string? modulePath, int methodToken)
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
    public (string File, int Line)? FindByName(string? modulePath, string function)
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

    private static (string File, int Line)? Read(MetadataReaderProvider? pdb, int methodToken)
    {
        if (pdb is null)
            return null;
        try
        {
            var reader = pdb.GetMetadataReader();
            var method = MetadataTokens.MethodDebugInformationHandle(methodToken & 0xFFFFFF);
            foreach (var point in reader.GetMethodDebugInformation(method).GetSequencePoints())
            {
                if (!point.IsHidden)
                    return (reader.GetString(reader.GetDocument(point.Document).Name), point.StartLine);
            }
        }
        catch (Exception e) when (e is BadImageFormatException or ArgumentException)
        {
            // A token past the PDB's method table: a method the compiler did not emit (e.g. runtime-generated).
        }

        return null;
    }
}
