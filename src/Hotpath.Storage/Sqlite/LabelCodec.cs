using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Hotpath.Storage.Sqlite;

/// <summary>Labels as a compact JSON array of [key, value] pairs, for the metadata row.</summary>
internal static class LabelCodec
{
    public static string Encode(IReadOnlyList<ProfileLabel> labels)
    {
        if (labels.Count == 0)
            return "";
        var buffer = new ArrayBufferWriter<byte>(64);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var label in labels)
            {
                json.WriteStartArray();
                json.WriteStringValue(label.Key);
                json.WriteStringValue(label.Value);
                json.WriteEndArray();
            }

            json.WriteEndArray();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static IReadOnlyList<ProfileLabel> Decode(string text)
    {
        if (text.Length == 0)
            return [];
        var labels = new List<ProfileLabel>();
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(text));
        reader.Read(); // outer [
        while (reader.Read() && reader.TokenType == JsonTokenType.StartArray)
        {
            reader.Read();
            var key = reader.GetString()!;
            reader.Read();
            var value = reader.GetString()!;
            reader.Read(); // inner ]
            labels.Add(new ProfileLabel(key, value));
        }

        return labels;
    }
}
