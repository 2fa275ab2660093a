using System.Security.Cryptography;
using System.Text;

namespace Hotpath.Collector.Hosting;

/// <summary>
/// The tenants' bound tokens of one kind (read or write), looked up by the token's SHA-256: a lookup takes the
/// same time whichever token is close to the one sent.
/// </summary>
public sealed class TenantTokenMap
{
    private readonly Dictionary<string, string> _tenantByHash = new(StringComparer.Ordinal);

    public TenantTokenMap(IReadOnlyDictionary<string, TenantTokens> tenants, Func<TenantTokens, string?> token)
    {
        ArgumentNullException.ThrowIfNull(tenants);
        ArgumentNullException.ThrowIfNull(token);
        foreach (var (tenant, tokens) in tenants)
        {
            // Two tenants with one token are refused at start (AuthOptionsValidation).
            if (token(tokens) is { Length: > 0 } value)
                _tenantByHash[Hash(value)] = tenant;
        }
    }

    /// <summary>Whether any tenant has a token of this kind.</summary>
    public bool Any => _tenantByHash.Count > 0;

    /// <summary>The tenant <paramref name="token"/> is bound to; null when it is none's.</summary>
    public string? TenantOf(string token) => _tenantByHash.GetValueOrDefault(Hash(token));

    private static string Hash(string token) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
