using Hotpath.Pprof;

namespace Hotpath.Service;

/// <summary>How many labels a profile or a query may carry and how long their parts and a service name may be.</summary>
public static class LabelLimits
{
    /// <summary>
    /// Most label pairs a profile or a query may carry: more than any real label set (Pyroscope allows 30
    /// names a series), few enough that no filter or index write grows without bound.
    /// </summary>
    public const int MaxPairs = 64;

    /// <summary>Longest label key, and service name, in characters (Pyroscope's default too).</summary>
    public const int MaxKeyLength = 1024;

    /// <summary>Longest label value, in characters (Pyroscope's default too).</summary>
    public const int MaxValueLength = 2048;

    /// <summary>The labels sorted by key, once checked against the limits; <paramref name="field"/> names them in the refusal.</summary>
    /// <exception cref="InvalidRequestException">Too many pairs, or a key or value too long.</exception>
    public static IReadOnlyList<ProfileLabel> Sorted(IReadOnlyCollection<ProfileLabel> labels, string field)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Count > MaxPairs)
            throw new InvalidRequestException($"bad \"{field}\": {labels.Count} pairs, at most {MaxPairs} are allowed");
        foreach (var label in labels)
        {
            if (label.Key.Length > MaxKeyLength)
                throw new InvalidRequestException($"bad \"{field}\": a label key of {label.Key.Length} characters, at most {MaxKeyLength} are allowed");
            if (label.Value.Length > MaxValueLength)
            {
                throw new InvalidRequestException(
                    $"bad \"{field}\": the value of \"{Truncated(label.Key)}\" has {label.Value.Length} characters, at most {MaxValueLength} are allowed");
            }
        }

        return [.. labels.OrderBy(l => l.Key, StringComparer.Ordinal)];
    }

    /// <summary>
    /// A service name as every protocol must give it: at most <see cref="MaxKeyLength"/> characters, no control
    /// characters (one of them separates a tenant from its services in storage, <see cref="Storage.Tenancy.TenantServices"/>).
    /// </summary>
    /// <exception cref="InvalidRequestException">Longer, or holding a control character.</exception>
    public static string Service(string service, string field)
    {
        ArgumentNullException.ThrowIfNull(service);
        if (service.Length > MaxKeyLength)
            throw new InvalidRequestException($"bad \"{field}\": a service name of {service.Length} characters, at most {MaxKeyLength} are allowed");
        return service.AsSpan().ContainsAnyInRange('\u0000', '\u001F')
            ? throw new InvalidRequestException($"bad \"{field}\": a service name may not hold control characters")
            : service;
    }

    /// <summary>A name as an error message may quote it: at most 64 characters.</summary>
    public static string Truncated(string text) => text.Length <= 64 ? text : text[..61] + "...";
}
