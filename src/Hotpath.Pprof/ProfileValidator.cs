using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof;

/// <summary>
/// Checks the references inside a profile, as Go's profile.Parse and CheckValid do: every id a sample,
/// location or line refers to exists, every string index is in range, and each sample has one value per
/// sample type. A profile that passes can be merged without a lookup ever failing.
/// </summary>
public static class ProfileValidator
{
    public static void Validate(Profile p)
    {
        var strings = p.StringTable.Count;
        if (strings == 0 || p.StringTable[0].Length != 0)
            throw new MalformedProfileException("string_table[0] must be the empty string");

        CheckString(p.DropFrames, strings, "drop_frames");
        CheckString(p.KeepFrames, strings, "keep_frames");
        CheckString(p.DefaultSampleType, strings, "default_sample_type");
        CheckString(p.DocUrl, strings, "doc_url");
        foreach (var c in p.Comment)
            CheckString(c, strings, "comment");
        foreach (var st in p.SampleType)
            CheckValueType(st, strings, "sample_type");
        if (p.PeriodType is { } pt)
            CheckValueType(pt, strings, "period_type");

        var mappings = new HashSet<ulong>();
        foreach (var m in p.Mapping)
        {
            if (m.Id == 0 || !mappings.Add(m.Id))
                throw new MalformedProfileException($"mapping id {m.Id} is zero or repeated");
            CheckString(m.Filename, strings, "mapping filename");
            CheckString(m.BuildId, strings, "mapping build_id");
        }

        var functions = new HashSet<ulong>();
        foreach (var f in p.Function)
        {
            if (f.Id == 0 || !functions.Add(f.Id))
                throw new MalformedProfileException($"function id {f.Id} is zero or repeated");
            CheckString(f.Name, strings, "function name");
            CheckString(f.SystemName, strings, "function system_name");
            CheckString(f.Filename, strings, "function filename");
        }

        var locations = new HashSet<ulong>();
        foreach (var l in p.Location)
        {
            if (l.Id == 0 || !locations.Add(l.Id))
                throw new MalformedProfileException($"location id {l.Id} is zero or repeated");
            if (l.MappingId != 0 && !mappings.Contains(l.MappingId))
                throw new MalformedProfileException($"location {l.Id} refers to unknown mapping {l.MappingId}");
            foreach (var line in l.Line)
            {
                if (line.FunctionId != 0 && !functions.Contains(line.FunctionId))
                    throw new MalformedProfileException($"location {l.Id} refers to unknown function {line.FunctionId}");
            }
        }

        if (p.Sample.Count == 0)
            throw new MalformedProfileException("profile has no samples");

        var types = p.SampleType.Count;
        foreach (var s in p.Sample)
        {
            if (s.Value.Count != types)
                throw new MalformedProfileException($"sample has {s.Value.Count} values for {types} sample types");
            foreach (var id in s.LocationId)
            {
                if (!locations.Contains(id))
                    throw new MalformedProfileException($"sample refers to unknown location {id}");
            }

            foreach (var label in s.Label)
            {
                CheckString(label.Key, strings, "label key");
                CheckString(label.Str, strings, "label value");
                CheckString(label.NumUnit, strings, "label unit");
            }
        }
    }

    private static void CheckValueType(Proto.ValueType vt, int strings, string what)
    {
        CheckString(vt.Type, strings, what);
        CheckString(vt.Unit, strings, what);
    }

    private static void CheckString(long index, int count, string what)
    {
        if ((ulong)index >= (ulong)count)
            throw new MalformedProfileException($"{what} string index {index} out of range [0, {count})");
    }
}
