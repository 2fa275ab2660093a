using Hotpath.Pprof.Proto;

namespace Hotpath.Pprof.Analysis;

/// <summary>How much of a profile is spent in the functions a predicate picks: each sample counted once, however many of its frames match.</summary>
public static class FunctionValue
{
    /// <summary>
    /// The value of the samples with a picked function anywhere on the stack (<paramref name="self"/> false: the
    /// functions' total) or as the leaf (true: their self value).
    /// </summary>
    public static long Of(Profile profile, int sampleType, Func<string, bool> picks, bool self)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(picks);
        var picked = new Dictionary<string, bool>(StringComparer.Ordinal);
        bool Picked(string function)
        {
            if (!picked.TryGetValue(function, out var yes))
                picked[function] = yes = picks(function);
            return yes;
        }

        long value = 0;
        foreach (var (frames, sample) in StackResolver.Values(profile, sampleType))
        {
            if (self ? frames.Count > 0 && Picked(frames[0]) : frames.Exists(Picked))
                value = Saturating.Add(value, sample);
        }

        return value;
    }
}
