using Hotpath.Pprof;

namespace Hotpath.Service.Query;

/// <summary>One series of Pyroscope's SelectSeries: its labels (the group's) and a value per step that holds profiles.</summary>
/// <param name="Points">(step start in Unix nanoseconds, value), in time order.</param>
public sealed record SelectedSeries(IReadOnlyList<ProfileLabel> Labels, IReadOnlyList<(long Time, double Value)> Points)
{
    public double Total => Points.Sum(p => p.Value);
}
