using System.Globalization;
using System.Text;
using Hotpath.Pprof.Proto;

namespace Hotpath.Testing;

/// <summary>
/// A profile as text that does not depend on ids or the order of its tables: header fields, then one line
/// per (stack of resolved locations, sample labels) with its summed values, sorted. Two merges of the same
/// profiles in different orders, or through different paths, read the same.
/// </summary>
public static class CanonicalProfile
{
    public static string Of(Profile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        string S(long index) => profile.StringTable[(int)index];
        var functions = profile.Function.ToDictionary(f => f.Id, f => $"{S(f.Name)}|{S(f.SystemName)}|{S(f.Filename)}|{f.StartLine}");
        var mappings = profile.Mapping.ToDictionary(m => m.Id, m => $"{S(m.Filename)}|{S(m.BuildId)}|{m.MemoryLimit - m.MemoryStart}|{m.FileOffset}");
        var locations = profile.Location.ToDictionary(l => l.Id, l =>
            $"{(l.MappingId == 0 ? "" : mappings[l.MappingId])}@{(l.MappingId == 0 ? l.Address : l.Address - profile.Mapping.First(m => m.Id == l.MappingId).MemoryStart):x}"
            + (l.IsFolded ? "!" : "") + "[" + string.Join(";", l.Line.Select(line => $"{functions[line.FunctionId]}:{line.Line_}")) + "]");

        var samples = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var sample in profile.Sample)
        {
            var labels = string.Join(",", sample.Label.Select(l => $"{S(l.Key)}={S(l.Str)}#{l.Num}{S(l.NumUnit)}").Order(StringComparer.Ordinal));
            var key = string.Join(" < ", sample.LocationId.Select(id => locations[id])) + " {" + labels + "}";
            if (!samples.TryGetValue(key, out var values))
                samples[key] = values = new long[sample.Value.Count];
            for (var i = 0; i < values.Length; i++)
                values[i] += sample.Value[i];
        }

        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"types {string.Join(",", profile.SampleType.Select(t => S(t.Type) + "/" + S(t.Unit)))}\n");
        text.Append(CultureInfo.InvariantCulture, $"period {S(profile.PeriodType?.Type ?? 0)}/{S(profile.PeriodType?.Unit ?? 0)} {profile.Period}\n");
        text.Append(CultureInfo.InvariantCulture, $"time {profile.TimeNanos} duration {profile.DurationNanos}\n");
        text.Append(CultureInfo.InvariantCulture, $"comments {string.Join(",", profile.Comment.Select(S).Order(StringComparer.Ordinal))}\n");
        foreach (var (key, values) in samples.Where(s => s.Value.Any(v => v != 0)).OrderBy(s => s.Key, StringComparer.Ordinal))
            text.Append(key).Append(" = ").AppendJoin(",", values).Append('\n');
        return text.ToString();
    }
}
