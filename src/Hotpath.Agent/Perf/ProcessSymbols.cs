using System.Globalization;
using Hotpath.Pprof;

namespace Hotpath.Agent.Perf;

/// <summary>
/// Names the code addresses of one process as the EventPipe sampler names them (<c>Namespace.Type.Method</c>):
/// JIT-compiled methods from the runtime's perf map (<c>/tmp/perf-PID.map</c>, appended to as methods are
/// compiled again at higher tiers: each tier's entry carries the same name, so a method is one function),
/// native code from <c>/proc/PID/maps</c> and the module's ELF symbols (<c>libcoreclr.so!Name</c>, else
/// <c>libcoreclr.so+0x1a2b</c>), anything else by its address. Methods of assemblies with a portable PDB
/// get its source file, as the EventPipe sampler's do.
/// </summary>
internal sealed class ProcessSymbols : IDisposable
{
    private readonly int _pid;
    private readonly string _perfMap;
    private readonly MethodSources _sources = new();
    private readonly Dictionary<string, string> _assemblies = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(ulong Start, ulong End, string Name, string Assembly)> _jitted = [];
    private readonly Dictionary<string, ElfSymbols> _modules = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, ProfileFrame> _resolved = [];
    private ulong[] _jittedStarts = [];
    private (ulong Start, ulong End, ulong Offset, string Path)[] _maps = [];
    private long _perfMapRead;

    public ProcessSymbols(int pid)
    {
        _pid = pid;
        _perfMap = PerfMapPath(pid);
    }

    /// <summary>Where the runtime of process <paramref name="pid"/> writes its perf map while it is on.</summary>
    public static string PerfMapPath(int pid) => $"/tmp/perf-{pid}.map";

    /// <summary>How many JIT-compiled code ranges the perf map has named so far.</summary>
    public int JittedRanges => _jitted.Count;

    /// <summary>Reads what the perf map gained and the process's mappings now; names resolved before are forgotten.</summary>
    public void Refresh()
    {
        _resolved.Clear();
        ReadPerfMap();
        _maps = ReadMaps();
    }

    /// <summary>The frame at an address; <paramref name="returnAddress"/> for a caller's frame (the call is just before it).</summary>
    public ProfileFrame Resolve(ulong address, bool returnAddress)
    {
        var at = returnAddress && address > 0 ? address - 1 : address;
        if (_resolved.TryGetValue(at, out var known))
            return known;
        var frame = Frame(at);
        _resolved[at] = frame;
        return frame;
    }

    public void Dispose() => _sources.Dispose();

    private ProfileFrame Frame(ulong address)
    {
        var i = Array.BinarySearch(_jittedStarts, address);
        if (i < 0)
            i = ~i - 1;
        if (i >= 0 && address < _jitted[i].End)
        {
            var (_, _, name, assembly) = _jitted[i];
            var source = _assemblies.TryGetValue(assembly, out var path) ? _sources.FindByName($"/proc/{_pid}/root{path}", name) : null;
            return new ProfileFrame(name, source?.File, source?.StartLine ?? 0);
        }

        return new ProfileFrame(NativeName(address));
    }

    private string NativeName(ulong address)
    {
        foreach (var (start, end, offset, path) in _maps)
        {
            if (address < start || address >= end)
                continue;
            var module = Path.GetFileName(path);
            if (!_modules.TryGetValue(path, out var symbols))
                _modules[path] = symbols = ElfSymbols.Read($"/proc/{_pid}/root{path}");
            var fileOffset = address - start + offset;
            return symbols.At(fileOffset) is { } symbol ? $"{module}!{symbol}" : $"{module}+0x{fileOffset.ToString("x", CultureInfo.InvariantCulture)}";
        }

        return "0x" + address.ToString("x", CultureInfo.InvariantCulture);
    }

    private void ReadPerfMap()
    {
        try
        {
            using var file = new FileStream(_perfMap, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (file.Length <= _perfMapRead)
                return;
            file.Position = _perfMapRead;
            using var reader = new StreamReader(file);
            var text = reader.ReadToEnd();
            // Only whole lines: the runtime may be writing the last one.
            var complete = text.LastIndexOf('\n') + 1;
            _perfMapRead += System.Text.Encoding.UTF8.GetByteCount(text.AsSpan(0, complete));
            foreach (var line in text.AsSpan(0, complete).EnumerateLines())
            {
                if (ParsePerfMapLine(line) is { } entry)
                    _jitted.Add(entry);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return; // no perf map (yet): managed frames stay addresses
        }

        _jitted.Sort((a, b) => a.Start.CompareTo(b.Start));
        _jittedStarts = [.. _jitted.Select(j => j.Start)];
    }

    /// <summary>"0x7f11... 45c valuetype [System.Runtime]System.ValueTuple`2&lt;…&gt; [HotApp] HotApp.Work::Calibrate(int32,int32)[QuickJitted]".</summary>
    internal static (ulong Start, ulong End, string Name, string Assembly)? ParsePerfMapLine(ReadOnlySpan<char> line)
    {
        var first = line.IndexOf(' ');
        if (first < 0)
            return null;
        var second = line[(first + 1)..].IndexOf(' ');
        if (second < 0)
            return null;
        var startText = line[..first];
        if (startText.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            startText = startText[2..];
        if (!ulong.TryParse(startText, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var start)
            || !ulong.TryParse(line.Slice(first + 1, second), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var size))
            return null;
        var entry = line[(first + second + 2)..].ToString();
        return (start, start + size, MethodName(entry), AssemblyName(entry));
    }

    /// <summary>The assembly in brackets just before the method's type: "… [HotApp] HotApp.Work::Checksum(…)" → "HotApp".</summary>
    internal static string AssemblyName(string entry)
    {
        var colons = entry.IndexOf("::", StringComparison.Ordinal);
        if (colons < 0)
            return "";
        var close = entry.LastIndexOf(']', colons);
        var open = close < 0 ? -1 : entry.LastIndexOf('[', close);
        return open < 0 ? "" : entry[(open + 1)..close];
    }

    /// <summary>
    /// "instance void [HotApp] HotApp.Work::Checksum(uint8[])[OptimizedTier1]" → "HotApp.Work.Checksum", the
    /// name the EventPipe sampler gives it, whatever the tier; stubs keep their name ("stub …").
    /// </summary>
    internal static string MethodName(string entry)
    {
        var colons = entry.IndexOf("::", StringComparison.Ordinal);
        if (colons < 0)
            return entry;
        var paren = entry.IndexOf('(', colons);
        var method = paren < 0 ? entry[(colons + 2)..] : entry[(colons + 2)..paren];
        var typeStart = entry.AsSpan(0, colons).LastIndexOfAny(' ', ']') + 1;
        return $"{entry[typeStart..colons]}.{method}";
    }

    private (ulong, ulong, ulong, string)[] ReadMaps()
    {
        var maps = new List<(ulong, ulong, ulong, string)>();
        try
        {
            foreach (var line in File.ReadLines($"/proc/{_pid}/maps"))
            {
                // "7f11c9400000-7f11c9458000 r-xp 00000000 08:01 1234 /usr/share/dotnet/shared/.../libcoreclr.so"
                var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length < 6 || !parts[5].StartsWith('/'))
                    continue;
                var path = parts[5].Trim();
                // Managed assemblies are mapped as files too: where each one's PDB is found.
                if (path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
                    _assemblies.TryAdd(Path.GetFileNameWithoutExtension(path), path);
                if (parts[1].Length < 3 || parts[1][2] != 'x')
                    continue;
                var dash = parts[0].IndexOf('-', StringComparison.Ordinal);
                maps.Add((ulong.Parse(parts[0].AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                    ulong.Parse(parts[0].AsSpan(dash + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                    ulong.Parse(parts[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture), parts[5].Trim()));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The process is gone, or not ours to read: native frames stay addresses.
        }

        return [.. maps];
    }
}
