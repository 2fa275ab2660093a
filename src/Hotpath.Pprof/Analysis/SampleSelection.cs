using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof.Analysis;

/// <summary>
/// A choice among a profile's samples by their pprof sample labels (the .NET agent's allocated
/// <c>type</c>, Go's pprof labels): keep the samples that carry every filter's key with one of its values,
/// and optionally group them by a label, its value becoming the root frame (<c>type=System.Byte[]</c>;
/// <c>type=(none)</c> for samples without it). String labels only: numeric ones carry no name to pick.
/// </summary>
/// <param name="Filters">Key and value pairs; values of one key are alternatives, keys must all match.</param>
public sealed record SampleSelection(IReadOnlyList<KeyValuePair<string, string>> Filters, string? GroupBy = null)
{
    public static SampleSelection None { get; } = new([]);

    public bool IsEmpty => Filters.Count == 0 && string.IsNullOrEmpty(GroupBy);

    /// <summary>The frame a group's samples get as their root.</summary>
    public static string GroupFrame(string key, string? value) => $"{key}={value ?? "(none)"}";

    /// <summary>
    /// The profile with only the chosen samples (and the group frames added); the same profile when the
    /// selection is empty. The profile given is not changed: the result shares its tables' entries.
    /// </summary>
    public Profile Apply(Profile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        if (IsEmpty)
            return profile;
        var strings = profile.StringTable;
        var wanted = Filters.GroupBy(f => f.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(f => f.Value).ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
        var result = new Profile
        {
            SampleType = { profile.SampleType },
            Mapping = { profile.Mapping },
            Location = { profile.Location },
            Function = { profile.Function },
            StringTable = { profile.StringTable },
            DropFrames = profile.DropFrames,
            KeepFrames = profile.KeepFrames,
            TimeNanos = profile.TimeNanos,
            DurationNanos = profile.DurationNanos,
            PeriodType = profile.PeriodType,
            Period = profile.Period,
            Comment = { profile.Comment },
            DefaultSampleType = profile.DefaultSampleType,
        };
        var groups = new Dictionary<string, ulong>(StringComparer.Ordinal);
        var nextId = Math.Max(profile.Location.Count == 0 ? 0 : profile.Location.Max(l => l.Id), profile.Function.Count == 0 ? 0 : profile.Function.Max(f => f.Id)) + 1;
        foreach (var sample in profile.Sample)
        {
            if (!Matches(sample, strings, wanted))
                continue;
            if (string.IsNullOrEmpty(GroupBy))
            {
                result.Sample.Add(sample);
                continue;
            }

            string? value = null;
            foreach (var label in sample.Label)
            {
                if (label.Str != 0 && strings[(int)label.Key] == GroupBy)
                {
                    value = strings[(int)label.Str];
                    break;
                }
            }

            var frame = GroupFrame(GroupBy, value);
            if (!groups.TryGetValue(frame, out var id))
            {
                id = nextId++;
                groups[frame] = id;
                result.StringTable.Add(frame);
                result.Function.Add(new Function { Id = id, Name = result.StringTable.Count - 1 });
                result.Location.Add(new Location { Id = id, Line = { new Line { FunctionId = id } } });
            }

            // Locations are leaf first: the group is the outermost frame.
            var grouped = new Sample { Value = { sample.Value }, Label = { sample.Label }, LocationId = { sample.LocationId } };
            grouped.LocationId.Add(id);
            result.Sample.Add(grouped);
        }

        return result;
    }

    private static bool Matches(Sample sample, Google.Protobuf.Collections.RepeatedField<string> strings, Dictionary<string, HashSet<string>> wanted)
    {
        foreach (var (key, values) in wanted)
        {
            var found = false;
            foreach (var label in sample.Label)
            {
                if (label.Str != 0 && strings[(int)label.Key] == key && values.Contains(strings[(int)label.Str]))
                {
                    found = true;
                    break;
                }
            }

            if (!found)
                return false;
        }

        return true;
    }
}

/// <summary>A sample label key of a profile, with its values and each one's total of a sample type, largest first.</summary>
public sealed record SampleLabelKey(string Key, IReadOnlyList<(string Value, long Total)> Values)
{
    /// <summary>The string sample labels of a profile, at most <paramref name="maxValues"/> values per key (the largest).</summary>
    public static IReadOnlyList<SampleLabelKey> Of(Profile profile, int sampleType, int maxValues = 100)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var totals = new Dictionary<string, Dictionary<string, long>>(StringComparer.Ordinal);
        foreach (var sample in profile.Sample)
        {
            foreach (var label in sample.Label)
            {
                if (label.Str == 0)
                    continue;
                var key = profile.StringTable[(int)label.Key];
                if (!totals.TryGetValue(key, out var values))
                    totals[key] = values = new Dictionary<string, long>(StringComparer.Ordinal);
                var value = profile.StringTable[(int)label.Str];
                values[value] = values.GetValueOrDefault(value) + sample.Value[sampleType];
            }
        }

        return [.. totals.OrderBy(t => t.Key, StringComparer.Ordinal)
            .Select(t => new SampleLabelKey(t.Key, [.. t.Value.OrderByDescending(v => Math.Abs(v.Value)).ThenBy(v => v.Key, StringComparer.Ordinal).Take(maxValues).Select(v => (v.Key, v.Value))]))];
    }
}
