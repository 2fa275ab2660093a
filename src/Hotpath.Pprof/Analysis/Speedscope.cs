using System.Text.Json;
using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof.Analysis;

/// <summary>
/// A profile's sample type as speedscope's file format (https://www.speedscope.app/file-format-schema.json):
/// one "sampled" profile, frames shared, a stack (root first) and a weight per distinct stack.
/// </summary>
public static class Speedscope
{
    public const string Schema = "https://www.speedscope.app/file-format-schema.json";

    public static void Write(Utf8JsonWriter json, Profile profile, int sampleType, string name)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(profile);
        var frames = new Dictionary<string, int>(StringComparer.Ordinal);
        var stacks = new Dictionary<string, (int[] Frames, long Weight)>(StringComparer.Ordinal);
        foreach (var (leafFirst, value) in StackResolver.Values(profile, sampleType))
        {
            var indices = new int[leafFirst.Count];
            for (var i = 0; i < leafFirst.Count; i++)
            {
                var frame = leafFirst[leafFirst.Count - 1 - i];
                if (!frames.TryGetValue(frame, out var index))
                    frames[frame] = index = frames.Count;
                indices[i] = index;
            }

            var key = string.Join(',', indices);
            stacks[key] = stacks.TryGetValue(key, out var known) ? (known.Frames, known.Weight + value) : (indices, value);
        }

        var type = profile.SampleType[sampleType];
        var unit = profile.StringTable[(int)type.Unit];
        json.WriteStartObject();
        json.WriteString("$schema", Schema);
        json.WriteString("name", name);
        json.WriteString("exporter", "hotpath");
        json.WriteStartObject("shared");
        json.WriteStartArray("frames");
        foreach (var frame in frames.Keys)
        {
            json.WriteStartObject();
            json.WriteString("name", frame);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteStartArray("profiles");
        json.WriteStartObject();
        json.WriteString("type", "sampled");
        json.WriteString("name", profile.StringTable[(int)type.Type]);
        // speedscope's units: nanoseconds, microseconds, milliseconds, seconds, bytes or none.
        json.WriteString("unit", unit is "nanoseconds" or "microseconds" or "milliseconds" or "seconds" or "bytes" ? unit : "none");
        json.WriteNumber("startValue", 0);
        json.WriteNumber("endValue", Saturating.Sum(stacks.Values, s => s.Weight));
        json.WriteStartArray("samples");
        foreach (var (stack, _) in stacks.Values)
        {
            json.WriteStartArray();
            foreach (var index in stack)
                json.WriteNumberValue(index);
            json.WriteEndArray();
        }

        json.WriteEndArray();
        json.WriteStartArray("weights");
        foreach (var (_, weight) in stacks.Values)
            json.WriteNumberValue(weight);
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
    }
}
