using Hotpath.Service;
using Microsoft.Extensions.Options;

namespace Hotpath.Collector.Hosting;

/// <summary>Refuses at start tenant names that X-Scope-OrgID could not carry and a token given to two tenants or kinds.</summary>
public sealed class AuthOptionsValidation : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (tenant, tokens) in options.Tenants)
        {
            try
            {
                if (TenantName.Parse(tenant, "Auth:Tenants").Length == 0)
                    failures.Add("Auth:Tenants: a tenant needs a name");
            }
            catch (InvalidRequestException e)
            {
                failures.Add(e.Message);
            }

            foreach (var (kind, token) in new[] { ("WriteToken", tokens.WriteToken), ("ReadToken", tokens.ReadToken) })
            {
                if (string.IsNullOrEmpty(token))
                    continue;
                var owner = $"Auth:Tenants:{tenant}:{kind}";
                if (token == options.WriteToken || token == options.ReadToken)
                    failures.Add($"{owner} is also Auth:WriteToken or Auth:ReadToken");
                else if (!owners.TryAdd(token, owner))
                    failures.Add($"{owner} is the same token as {owners[token]}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
