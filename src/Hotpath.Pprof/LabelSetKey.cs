using System.Globalization;
using System.Text;

namespace Hotpath.Pprof;

/// <summary>
/// The one key of a label set (sorted labels) in every engine: length-prefixed text, "6:region2:eu7:version3:1.4".
/// Any character may appear in a key or value and no two label sets share a key (joining "k=v" pairs would
/// make {"a=b": "c"} and {"a": "b=c"} one), and reading back needs no parser beyond counting. The embedded
/// store keeps it in its metadata rows and label sets, ClickHouse compares its pieces and profiles by it, and
/// ingest uses it as the content key of a push's samples.
/// </summary>
public static class LabelSetKey
{
    public static string Encode(IReadOnlyList<ProfileLabel> labels)
    {
        if (labels.Count == 0)
            return "";
        var text = new StringBuilder();
        foreach (var label in labels)
        {
            Append(text, label.Key);
            Append(text, label.Value);
        }

        return text.ToString();

        static void Append(StringBuilder text, string s) =>
            text.Append(s.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(s);
    }

    public static IReadOnlyList<ProfileLabel> Decode(string text)
    {
        if (text.Length == 0)
            return [];
        var labels = new List<ProfileLabel>(4);
        var at = 0;
        while (at < text.Length)
        {
            var key = Next(text, ref at);
            var value = Next(text, ref at);
            labels.Add(new ProfileLabel(key, value));
        }

        return labels;

        static string Next(string text, ref int at)
        {
            var colon = text.IndexOf(':', at);
            var length = int.Parse(text.AsSpan(at, colon - at), NumberStyles.None, CultureInfo.InvariantCulture);
            at = colon + 1 + length;
            return text.Substring(colon + 1, length);
        }
    }
}
