namespace Hotpath.Service.Query.Changes;

/// <summary>The count, mean and sample variance of a few values, as a two-sample test needs them.</summary>
public readonly record struct Moments(int Count, double Mean, double Variance)
{
    public static Moments Of(ReadOnlySpan<double> values)
    {
        if (values.Length == 0)
            return default;
        var mean = 0.0;
        foreach (var value in values)
            mean += value;
        mean /= values.Length;
        var squares = 0.0;
        foreach (var value in values)
            squares += (value - mean) * (value - mean);
        return new Moments(values.Length, mean, values.Length > 1 ? squares / (values.Length - 1) : 0);
    }
}
