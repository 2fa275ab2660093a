using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Hotpath.Agent.EventPipe;

/// <summary>
/// Where each method's code lies in the process, from the runtime's method events: MethodLoadVerbose while a
/// session runs, and the rundown's MethodDCEndVerbose for every method (jitted or ReadyToRun) when it
/// stops, with the module each came from (ModuleLoad, ModuleDCEnd) for its file, and the rundown's
/// IL-to-native map of each piece of code (MethodDCEndILToNativeMap, sent just before that code's
/// MethodDCEndVerbose) for the IL offset an address ran. Instruction pointers are resolved once the session is
/// over, when every method it saw is known. Given the stacks the window's events were taken at, it keeps of the
/// rundown only the methods they ran: the rundown names every method the process has code for (3,000–5,000 in
/// HotApp, 3 MiB of names and maps a window, measured), of which a profile needs the few hundred its stacks hold.
/// </summary>
/// <param name="stacks">The stacks read so far, leaf first, as instruction pointers; null keeps every method.</param>
internal sealed class ManagedCode(IReadOnlyList<ulong[]>? stacks = null)
{
    public const string RuntimeProvider = "Microsoft-Windows-DotNETRuntime";
    public const string RundownProvider = "Microsoft-Windows-DotNETRuntimeRundown";
    private const int MethodLoadVerbose = 143, ModuleLoad = 152, MethodDCEndVerbose = 144, ModuleDCEnd = 154, MethodDCEndILToNativeMap = 150;

    private static readonly Comparer<(uint Native, int IL)> NativeOrder = Comparer<(uint Native, int IL)>.Create(static (x, y) => x.Native.CompareTo(y.Native));

    /// <summary>A range of code: where it starts, its size, its method, and its IL map's entries in <see cref="_maps"/>.</summary>
    private readonly record struct CodeRange(ulong Start, uint Size, int Method, int Map, int MapLength);

    private readonly List<CodeRange> _ranges = [];

    /// <summary>Every IL-to-native map, one run of (native offset, IL offset) per range, each run in native order.</summary>
    private readonly List<(uint Native, int IL)> _maps = [];

    /// <summary>The map last read, waiting for the method event of its code.</summary>
    private (ulong MethodId, int Map, int Length) _pendingMap;

    private readonly List<Method> _methods = [];
    private readonly Dictionary<(ulong Module, string Name), int> _methodIndexes = [];
    private readonly Dictionary<ulong, string> _modules = [];
    private CodeRange[]? _sorted;

    /// <summary>Every address of the first <see cref="_wantedStacks"/> stacks, sorted: what the rundown's methods are kept for.</summary>
    private ulong[] _wanted = [];
    private int _wantedStacks;

    /// <summary>A method: <c>Namespace.Type.Method</c>, its metadata token and module id.</summary>
    public readonly record struct Method(string Name, int Token, ulong Module);

    /// <summary>Takes the event if it is one of the method or module events; false when it is not.</summary>
    public bool TryAdd(in TraceEventRecord record)
    {
        var kind = record.Kind;
        var runtime = kind.Provider == RuntimeProvider;
        if (runtime ? kind.Id == MethodLoadVerbose : kind.Id == MethodDCEndVerbose && kind.Provider == RundownProvider)
            AddMethod(record.Payload, rundown: !runtime);
        else if (runtime ? kind.Id == ModuleLoad : kind.Id == ModuleDCEnd && kind.Provider == RundownProvider)
            AddModule(record.Payload);
        else if (!runtime && kind.Id == MethodDCEndILToNativeMap && kind.Provider == RundownProvider)
            AddMap(record.Payload);
        else
            return false;
        return true;
    }

    /// <summary>MethodID, ModuleID, MethodStartAddress, MethodSize, MethodToken, MethodFlags, MethodNamespace, MethodName, MethodSignature, ….</summary>
    /// <param name="rundown">
    /// Sent as the session stops, after the events it names code for: kept only when a stack ran it. (A method loaded
    /// while the session runs may run in a later event's stack: always kept.)
    /// </param>
    private void AddMethod(ReadOnlySpan<byte> payload, bool rundown)
    {
        var methodId = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        var module = BinaryPrimitives.ReadUInt64LittleEndian(payload[8..]);
        var start = BinaryPrimitives.ReadUInt64LittleEndian(payload[16..]);
        var size = BinaryPrimitives.ReadUInt32LittleEndian(payload[24..]);
        var token = BinaryPrimitives.ReadInt32LittleEndian(payload[28..]);
        var wanted = size > 0 && (!rundown || Ran(start, size));
        var (map, mapLength) = _pendingMap.MethodId == methodId && wanted ? (_pendingMap.Map, _pendingMap.Length) : (0, 0);
        DropPendingMap(keep: mapLength > 0);
        if (!wanted)
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

        _ranges.Add(new CodeRange(start, size, index, map, mapLength));
        _sorted = null;
    }

    /// <summary>MethodID, ReJITID, MethodExtent, CountOfMapEntries, ILOffsets[count], NativeOffsets[count], ClrInstanceID.</summary>
    private void AddMap(ReadOnlySpan<byte> payload)
    {
        DropPendingMap(keep: false);
        var methodId = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        var extent = payload[16];
        var count = BinaryPrimitives.ReadUInt16LittleEndian(payload[17..]);
        var ilOffsets = payload.Slice(19, 4 * count);
        var nativeOffsets = payload.Slice(19 + 4 * count, 4 * count);
        // Extent 0 is the method's main body, the code its method event places.
        if (extent != 0 || count == 0)
            return;
        var first = _maps.Count;
        for (var i = 0; i < count; i++)
            _maps.Add((BinaryPrimitives.ReadUInt32LittleEndian(nativeOffsets[(4 * i)..]), BinaryPrimitives.ReadInt32LittleEndian(ilOffsets[(4 * i)..])));
        _maps.Sort(first, count, NativeOrder);
        _pendingMap = (methodId, first, count);
    }

    /// <summary>Whether an address of a stack read so far lies in the code from <paramref name="start"/> (a caller's return address may be just past its end).</summary>
    private bool Ran(ulong start, uint size)
    {
        if (stacks is null)
            return true;
        if (stacks.Count > _wantedStacks)
        {
            // Once at the rundown's start; again only if a stack came after it began.
            var addresses = new HashSet<ulong>(_wanted);
            for (var i = _wantedStacks; i < stacks.Count; i++)
                addresses.UnionWith(stacks[i]);
            _wanted = [.. addresses];
            Array.Sort(_wanted);
            _wantedStacks = stacks.Count;
        }

        var at = Array.BinarySearch(_wanted, start);
        at = at < 0 ? ~at : at;
        return at < _wanted.Length && _wanted[at] - start <= size;
    }

    /// <summary>Forgets the map waiting for its method event: taken by it (<paramref name="keep"/>), or never claimed.</summary>
    private void DropPendingMap(bool keep)
    {
        if (!keep && _pendingMap.Length > 0)
            _maps.RemoveRange(_pendingMap.Map, _pendingMap.Length);
        _pendingMap = default;
    }

    /// <summary>ModuleID, AssemblyID, ModuleFlags, Reserved1, ModuleILPath, ….</summary>
    private void AddModule(ReadOnlySpan<byte> payload)
    {
        var id = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        var path = payload[24..];
        _modules[id] = Utf16.Read(ref path);
    }

    /// <summary>
    /// The method whose code holds <paramref name="address"/>, if any event named it, and the IL offset the
    /// address ran (-1 when its code has no map, or the address is in a prologue, epilogue or unmapped code).
    /// </summary>
    public Method? Find(ulong address, out int ilOffset)
    {
        ilOffset = -1;
        var ranges = _sorted ??= SortedRanges();
        var at = Sorted.LastAtOrBefore<CodeRange, ulong>(ranges, address, static r => r.Start);
        if (at < 0 || address - ranges[at].Start >= ranges[at].Size)
            return null;
        var range = ranges[at];
        ilOffset = IlOffset(range, (uint)(address - range.Start));
        return _methods[range.Method];
    }

    /// <summary>The file of module <paramref name="id"/>, if it was named.</summary>
    public string? ModulePath(ulong id) => _modules.GetValueOrDefault(id);

    /// <summary>The IL offset of the last map entry at or before the native offset; the special ones (prologue -2, epilogue -3, none -1) are all -1.</summary>
    private int IlOffset(CodeRange range, uint nativeOffset)
    {
        var map = CollectionsMarshal.AsSpan(_maps).Slice(range.Map, range.MapLength);
        var at = Sorted.LastAtOrBefore<(uint Native, int IL), uint>(map, nativeOffset, static e => e.Native);
        return at >= 0 && map[at].IL >= 0 ? map[at].IL : -1;
    }

    private CodeRange[] SortedRanges()
    {
        var ranges = _ranges.ToArray();
        Array.Sort(ranges, static (a, b) => a.Start.CompareTo(b.Start));
        return ranges;
    }
}
