using Hotpath.Pprof.Analysis;

namespace Hotpath.Service.Query.Changes;

/// <summary>One interval of a side of a comparison: how long it is, its total, and each function's self and total values.</summary>
public sealed class IntervalValues(double seconds, long total, IReadOnlyDictionary<string, (long Self, long Total)> functions)
{
    public double Seconds { get; } = seconds;

    /// <summary>The sum of the sample type over the interval's samples.</summary>
    public long Total { get; } = total;

    public IReadOnlyDictionary<string, (long Self, long Total)> Functions { get; } = functions;

    /// <summary>The values of a top table of the interval's merge.</summary>
    public static IntervalValues Of(TopTable table, double seconds)
    {
        ArgumentNullException.ThrowIfNull(table);
        var functions = new Dictionary<string, (long, long)>(table.Rows.Count, StringComparer.Ordinal);
        foreach (var row in table.Rows)
            functions[row.Function] = (row.Flat, row.Cumulative);
        return new IntervalValues(seconds, table.Total, functions);
    }
}
