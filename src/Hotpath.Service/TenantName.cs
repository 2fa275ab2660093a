using System.Buffers;
using Hotpath.Storage.Tenancy;

namespace Hotpath.Service;

/// <summary>
/// Tenant names as Pyroscope (and Cortex, Loki, Mimir) take them in <c>X-Scope-OrgID</c>: 1 to 150 characters of
/// letters, digits and <c>!-_.*'()</c>, neither "." nor "..".
/// </summary>
public static class TenantName
{
    public const int MaxLength = 150;

    private static readonly SearchValues<char> Allowed =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!-_.*'()");

    /// <summary>The tenant a request names; <see cref="TenantServices.Default"/> when it names none.</summary>
    /// <exception cref="InvalidRequestException">Not a tenant name.</exception>
    public static string Parse(string? name, string field)
    {
        if (string.IsNullOrEmpty(name))
            return TenantServices.Default;
        if (name.Length > MaxLength)
            throw new InvalidRequestException($"bad \"{field}\": a tenant name of {name.Length} characters, at most {MaxLength} are allowed");
        if (name is "." or ".." || name.AsSpan().IndexOfAnyExcept(Allowed) >= 0)
            throw new InvalidRequestException($"bad \"{field}\": \"{LabelLimits.Truncated(name)}\" is not a tenant name (letters, digits and !-_.*'() only)");
        return name;
    }
}
