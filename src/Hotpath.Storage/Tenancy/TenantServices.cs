namespace Hotpath.Storage.Tenancy;

/// <summary>
/// How a tenant is part of every storage key: its services are stored as <c>{tenant}␟{service}</c> (U+001F, a
/// character no service name may hold), so every engine's index rows, pieces, object keys and journal records
/// carry the tenant through the service they are keyed by. The default tenant's services are stored as they
/// are named, so data written before tenants existed stays the default tenant's.
/// </summary>
public static class TenantServices
{
    /// <summary>The tenant of a request that names none.</summary>
    public const string Default = "";

    /// <summary>Separates a tenant from its service in a stored service name; service names may not hold it.</summary>
    public const char Separator = '\u001F';

    /// <summary>Whether a service may have the name: one without <see cref="Separator"/>.</summary>
    public static bool IsServiceName(string service) => !service.Contains(Separator, StringComparison.Ordinal);

    /// <summary>The name <paramref name="service"/> of <paramref name="tenant"/> is stored under.</summary>
    public static string Stored(string tenant, string service)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        ArgumentNullException.ThrowIfNull(service);
        if (!IsServiceName(service))
            throw new ArgumentException("a service name may not hold U+001F", nameof(service));
        return tenant.Length == 0 ? service : string.Concat(tenant, Separator.ToString(), service);
    }

    /// <summary>The service a stored name stands for when <paramref name="tenant"/> owns it; null when another tenant does.</summary>
    public static string? Owned(string tenant, string stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var separator = stored.IndexOf(Separator, StringComparison.Ordinal);
        if (tenant.Length == 0)
            return separator < 0 ? stored : null;
        return separator == tenant.Length && stored.StartsWith(tenant, StringComparison.Ordinal) ? stored[(separator + 1)..] : null;
    }
}
