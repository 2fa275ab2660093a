using Hotpath.Storage.Tenancy;

namespace Hotpath.Collector.Hosting;

/// <summary>
/// The tenant the request being served acts for: <see cref="Api.ApiMiddleware"/> sets it from <see cref="Header"/>
/// (or the tenant its token is bound to) before the endpoint runs, and the request's store is that tenant's view.
/// </summary>
public sealed class RequestTenant
{
    /// <summary>The header Pyroscope, Grafana and the Cortex family name the tenant in.</summary>
    public const string Header = "X-Scope-OrgID";

    public string Name { get; set; } = TenantServices.Default;
}
