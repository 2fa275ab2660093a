namespace Hotpath.Service.Query.Changes;

/// <summary>
/// Which functions' shares moved between two sets of intervals, for sure: each function's self and total share
/// per interval, a two-sample test of the baseline's against the target's (<see cref="WelchTest"/>), every test of
/// the comparison corrected together (Holm), and only changes over the threshold at the confidence asked reported.
/// Shares, not values: a target with more instances or a busier hour is not a regression of every function.
/// </summary>
public static class ChangeStatistics
{
    /// <returns>The changes, largest first, and how many functions were compared.</returns>
    public static (IReadOnlyList<FunctionChange> Changes, int Compared) Compare(IReadOnlyList<IntervalValues> baseline, IReadOnlyList<IntervalValues> target,
        ChangeCriteria criteria, IReadOnlyDictionary<string, string> files)
    {
        ArgumentNullException.ThrowIfNull(baseline);
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(criteria);
        ArgumentNullException.ThrowIfNull(files);
        var functions = baseline.Concat(target).SelectMany(i => i.Functions.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var measures = new Measure[functions.Count * 2];
        var pValues = new List<double>(measures.Length);
        var tested = new List<int>(measures.Length);
        for (var f = 0; f < functions.Count; f++)
        {
            for (var which = 0; which < 2; which++)
            {
                var (before, beforeRate) = Shares(baseline, functions[f], which);
                var (after, afterRate) = Shares(target, functions[f], which);
                var (a, b) = (Moments.Of(before), Moments.Of(after));
                measures[(f * 2) + which] = new Measure(a.Mean, b.Mean, beforeRate, afterRate);
                if (a.Mean != 0 || b.Mean != 0)
                {
                    tested.Add((f * 2) + which);
                    pValues.Add(WelchTest.PValue(a, b));
                }
            }
        }

        var corrected = pValues.ToArray();
        WelchTest.Holm(corrected);
        var p = new double[measures.Length];
        Array.Fill(p, 1.0);
        for (var i = 0; i < tested.Count; i++)
            p[tested[i]] = corrected[i];

        var changes = new List<(FunctionChange Change, double Score)>();
        for (var f = 0; f < functions.Count; f++)
        {
            var self = measures[f * 2].Change(p[f * 2]);
            var total = measures[(f * 2) + 1].Change(p[(f * 2) + 1]);
            var sureSelf = self.IsSure(criteria.Confidence) && Math.Abs(self.Points) >= criteria.ThresholdPoints;
            var sureTotal = total.IsSure(criteria.Confidence) && Math.Abs(total.Points) >= criteria.ThresholdPoints;
            ChangeKind kind;
            if (total.BaselineShare == 0 || total.TargetShare == 0)
            {
                if (!total.IsSure(criteria.Confidence))
                    continue;
                kind = total.BaselineShare == 0 ? ChangeKind.Appeared : ChangeKind.Vanished;
            }
            else if (sureSelf || sureTotal)
            {
                // The way of the larger sure change decides (a function may lose self time and gain callees' time).
                var points = Math.Abs(self.Points) >= Math.Abs(total.Points) && sureSelf ? self.Points : sureTotal ? total.Points : self.Points;
                kind = points > 0 ? ChangeKind.Regression : ChangeKind.Improvement;
            }
            else
            {
                continue;
            }

            var regressed = (sureSelf && self.Points > 0) || (sureTotal && total.Points > 0);
            // A function whose own time moved ranks above its callers, whose totals only carry that move up the stack.
            var score = (sureSelf ? Math.Abs(self.Points) : 0) + (sureTotal ? Math.Abs(total.Points) : Math.Abs(total.Points) / 1000);
            changes.Add((new FunctionChange(functions[f], files.GetValueOrDefault(functions[f], ""), kind, self, total, regressed), score));
        }

        return ([.. changes.OrderByDescending(c => c.Score).ThenBy(c => c.Change.Function, StringComparer.Ordinal).Select(c => c.Change)], functions.Count);
    }

    /// <summary>The function's share of each interval (self: <paramref name="which"/> 0, total: 1), and its value per second over them all.</summary>
    private static (double[] Shares, double PerSecond) Shares(IReadOnlyList<IntervalValues> intervals, string function, int which)
    {
        var shares = new double[intervals.Count];
        double value = 0, seconds = 0;
        for (var i = 0; i < intervals.Count; i++)
        {
            var interval = intervals[i];
            seconds += interval.Seconds;
            if (!interval.Functions.TryGetValue(function, out var values))
                continue;
            var v = which == 0 ? values.Self : values.Total;
            value += v;
            shares[i] = interval.Total == 0 ? 0 : (double)v / interval.Total;
        }

        return (shares, seconds == 0 ? 0 : value / seconds);
    }

    private readonly record struct Measure(double BaselineShare, double TargetShare, double BaselinePerSecond, double TargetPerSecond)
    {
        public ShareChange Change(double pValue) => new(BaselineShare, TargetShare, BaselinePerSecond, TargetPerSecond, pValue);
    }
}
