using System.Buffers.Binary;

namespace Hotpath.Agent.EventPipe;

/// <summary>
/// Where each method's code lies in the process, from the runtime's method events: MethodLoadVerbose while a
/// session runs, and the rundown's MethodDCEndVerbose for every method (jitted or ReadyToRun) when it
/// stops, with the module each came from (ModuleLoad, ModuleDCEnd) for its file. Instruction pointers are
/// resolved once the session is over, when every method it saw is known.
/// </summary>
internal sealed class ManagedCode
{
    public const string RuntimeProvider = "Microsoft-Windows-DotNETRuntime";
    public const string RundownProvider = "Microsoft-Windows-DotNETRuntimeRundown";
    private const int MethodLoadVerbose = 143, ModuleLoad = 152, MethodDCEndVerbose = 144, ModuleDCEnd = 154;

    private readonly List<(ulong Start, uint Size, int Method)> _ranges = [];
    private readonly List<Method> _methods = [];
    private readonly Dictionary<(ulong Module, string Name), int> _methodIndexes = [];
    private readonly Dictionary<ulong, string> _modules = [];
    private (ulong Start, uint Size, int Method)[]? _sorted;

    /// <summary>A method: <c>Namespace.Type.Method</c>, its metadata token and module id.</summary>
    public readonly record struct Method(string Name, int Token, ulong Module);

    /// <summary>Takes the event if it is one of the method or module events; false when it is not.</summary>
    public bool TryAdd(in TraceEventRecord record)
    {
        var kind = record.Kind;
        var runtime = kind.Provider == RuntimeProvider;
        if (runtime ? kind.Id == MethodLoadVerbose : kind.Id == MethodDCEndVerbose && kind.Provider == RundownProvider)
            AddMethod(record.Payload);
        else if (runtime ? kind.Id == ModuleLoad : kind.Id == ModuleDCEnd && kind.Provider == RundownProvider)
            AddModule(record.Payload);
        else
            return false;
        return true;
    }

    /// <summary>MethodID, ModuleID, MethodStartAddress, MethodSize, MethodToken, MethodFlags, MethodNamespace, MethodName, MethodSignature, ….</summary>
    private void AddMethod(ReadOnlySpan<byte> payload)
    {
        var module = BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]);
        var start = BinaryPrimitives.ReadUInt64LittleEndian(payload[16..]);
        var size = BinaryPrimitives.ReadUInt32LittleEndian(payload[24..]);
        var token = BinaryPrimitives.ReadInt32LittleEndian(payload[28..]);
        if (size == 0)
            return;
        var names = payload[36..];
        var space = Utf16.Read(ref names);
        var name = Utf16.Read(ref names);
        var fullName = space.Length == 0 ? name : space + "." + name;
        // A method compiled again (tiers, ReadyToRun then jitted) is one method at several places.
        if (!_methodIndexes.TryGetValue((module, fullName), out var index))
        {
            index = _methods.Count;
            _methods.Add(new Method(fullName, token, module));
            _methodIndexes[(module, fullName)] = index;
        }

        _ranges.Add((start, size, index));
        _sorted = null;
    }

    /// <summary>ModuleID, AssemblyID, ModuleFlags, Reserved1, ModuleILPath, ….</summary>
    private void AddModule(ReadOnlySpan<byte> payload)
    {
        var id = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        var path = payload[24..];
        _modules[id] = Utf16.Read(ref path);
    }

    /// <summary>The method whose code holds <paramref name="address"/>, if any event named it.</summary>
    public Method? Find(ulong address)
    {
        var ranges = _sorted ??= SortedRanges();
        int low = 0, high = ranges.Length - 1;
        while (low <= high)
        {
            var middle = low + ((high - low) >> 1);
            if (ranges[middle].Start <= address)
                low = middle + 1;
            else
                high = middle - 1;
        }

        // high: the last range starting at or before the address.
        return high >= 0 && address - ranges[high].Start < ranges[high].Size ? _methods[ranges[high].Method] : null;
    }

    /// <summary>The file of module <paramref name="id"/>, if it was named.</summary>
    public string? ModulePath(ulong id) => _modules.GetValueOrDefault(id);

    private (ulong Start, uint Size, int Method)[] SortedRanges()
    {
        var ranges = _ranges.ToArray();
        Array.Sort(ranges, static (a, b) => a.Start.CompareTo(b.Start));
        return ranges;
    }
}
