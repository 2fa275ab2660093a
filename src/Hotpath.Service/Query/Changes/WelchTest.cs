using MathNet.Numerics.Distributions;

namespace Hotpath.Service.Query.Changes;

/// <summary>
/// Welch's two-sample t-test: whether two means differ, with neither the sizes nor the variances of the samples
/// assumed equal (the baseline and the target seldom have either).
/// </summary>
public static class WelchTest
{
    /// <summary>The two-sided p-value of the difference of the means; 1 when either sample has fewer than two values.</summary>
    public static double PValue(in Moments a, in Moments b)
    {
        if (a.Count < 2 || b.Count < 2)
            return 1;
        var (va, vb) = (a.Variance / a.Count, b.Variance / b.Count);
        var error = va + vb;
        var difference = b.Mean - a.Mean;
        if (error <= 0)
            return difference == 0 ? 1 : 0; // no spread on either side: any difference is certain
        var t = Math.Abs(difference) / Math.Sqrt(error);
        // Welch–Satterthwaite degrees of freedom.
        var freedom = error * error / ((va * va / (a.Count - 1)) + (vb * vb / (b.Count - 1)));
        return Math.Min(1, 2 * StudentT.CDF(0, 1, freedom, -t));
    }

    /// <summary>Holm's step-down correction of p-values for the number of tests, in place: the family's error stays under each level.</summary>
    public static void Holm(Span<double> pValues)
    {
        var order = new int[pValues.Length];
        for (var i = 0; i < order.Length; i++)
            order[i] = i;
        var copy = pValues.ToArray();
        Array.Sort(order, (x, y) => copy[x].CompareTo(copy[y]));
        var running = 0.0;
        for (var rank = 0; rank < order.Length; rank++)
        {
            running = Math.Max(running, Math.Min(1, (order.Length - rank) * copy[order[rank]]));
            pValues[order[rank]] = running;
        }
    }
}
