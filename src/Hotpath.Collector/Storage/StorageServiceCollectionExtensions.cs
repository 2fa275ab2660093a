using Hotpath.Storage;
using Microsoft.Extensions.Options;

namespace Hotpath.Collector.Storage;

/// <summary>The storage of a collector, registered beside its options: the engines, the contract they serve, and their background work.</summary>
public static class StorageServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="StorageOptions"/> (validated at start) and registers the engines Storage:Type names as the
    /// storage contract, with the services that prepare them at start, build their pieces and apply retention.
    /// </summary>
    public static IServiceCollection AddStorage(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StorageOptions>().Bind(configuration.GetSection(StorageOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp => new StorageEngines(sp.GetRequiredService<IOptions<StorageOptions>>().Value, sp.GetRequiredService<ILoggerFactory>(),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IProfileWriter>(sp => sp.GetRequiredService<StorageEngines>().Store);
        services.AddSingleton<IProfileReader>(sp => sp.GetRequiredService<StorageEngines>().Store);
        services.AddSingleton<IRetention>(sp => sp.GetRequiredService<StorageEngines>().Store);
        services.AddSingleton<IStorageSize>(sp => sp.GetRequiredService<StorageEngines>());
        services.AddSingleton<IRollupStatus>(sp => sp.GetRequiredService<StorageEngines>());
        services.AddSingleton<IJournalStatus>(sp => sp.GetRequiredService<StorageEngines>());
        services.AddHostedService<StorageStartupService>();
        services.AddHostedService<RetentionService>();
        services.AddHostedService<PieceBuildService>();
        return services;
    }
}
