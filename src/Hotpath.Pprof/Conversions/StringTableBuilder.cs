using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof.Conversions;

/// <summary>A pprof profile's string table as a conversion fills it: each string once, "" at index 0 as pprof requires.</summary>
internal sealed class StringTableBuilder
{
    private readonly Profile _profile;
    private readonly Dictionary<string, long> _indices = new(StringComparer.Ordinal);

    public StringTableBuilder(Profile profile)
    {
        _profile = profile;
        Intern("");
    }

    /// <summary>The index of <paramref name="text"/>, added on first use.</summary>
    public long Intern(string text)
    {
        if (!_indices.TryGetValue(text, out var index))
        {
            index = _profile.StringTable.Count;
            _indices[text] = index;
            _profile.StringTable.Add(text);
        }

        return index;
    }
}
