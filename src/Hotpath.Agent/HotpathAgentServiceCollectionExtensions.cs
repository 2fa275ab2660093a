using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Hotpath.Agent;

public static class HotpathAgentServiceCollectionExtensions
{
    /// <summary>
    /// Profiles this process continuously and pushes to a Hotpath collector:
    /// <c>builder.Services.AddHotpathAgent(o => { o.CollectorAddress = "http://localhost:10100"; o.Service = "checkout"; o.Labels["version"] = "1.4"; });</c>
    /// Settings also come from the "Hotpath:Agent" configuration section when one is given.
    /// </summary>
    public static IServiceCollection AddHotpathAgent(this IServiceCollection services, Action<HotpathAgentOptions>? configure = null, IConfiguration? configuration = null)
    {
        var options = services.AddOptions<HotpathAgentOptions>();
        if (configuration is not null)
            options.Bind(configuration.GetSection(HotpathAgentOptions.Section));
        if (configure is not null)
            options.Configure(configure);
        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HotpathAgentOptions>, HotpathAgentOptionsValidator>());
        services.AddHostedService<HotpathAgent>();
        return services;
    }
}
