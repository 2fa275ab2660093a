using System.Buffers;
using System.Text.Json;
using Hotpath.Pprof;

namespace Hotpath.Storage.S3;

/// <summary>Profile metadata as compact JSON, for the meta object and the index key.</summary>
internal static class MetaJson
{
    public static byte[] Write(ProfileMeta meta)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("i", meta.Id);
            json.WriteString("s", meta.Service);
            json.WriteNumber("t", (int)meta.Type);
            json.WriteString("n", meta.InstanceId);
            json.WriteNumber("c", meta.CreatedAtUnixNanos);
            json.WriteNumber("z", meta.Size);
            json.WriteNumber("v", meta.Value);
            json.WriteStartArray("l");
            foreach (var label in meta.Labels)
            {
                json.WriteStartArray();
                json.WriteStringValue(label.Key);
                json.WriteStringValue(label.Value);
                json.WriteEndArray();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static ProfileMeta Read(byte[] bytes)
    {
        using var document = JsonDocument.Parse(bytes);
        var root = document.RootElement;
        return new ProfileMeta(
            root.GetProperty("i").GetString()!,
            root.GetProperty("s").GetString()!,
            (ProfileType)root.GetProperty("t").GetInt32(),
            root.GetProperty("n").GetString()!,
            [.. root.GetProperty("l").EnumerateArray().Select(l => new ProfileLabel(l[0].GetString()!, l[1].GetString()!))],
            root.GetProperty("c").GetInt64(),
            root.GetProperty("z").GetInt64(),
            root.GetProperty("v").GetInt64());
    }
}
