using Hotpath.Pprof;
using Hotpath.Storage;

namespace Hotpath.Service.Query;

/// <summary>A label filter that passes one label set exactly: none with a label more or less.</summary>
public sealed class ExactLabelSet(IReadOnlyList<ProfileLabel> labels) : ILabelFilter
{
    public bool Matches(IReadOnlyList<ProfileLabel> candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        return candidate.Count == labels.Count && labels.All(candidate.Contains);
    }
}
