using Hotpath.Collector.Hosting;
using Hotpath.Storage;
using Hotpath.Storage.Tenancy;
using Microsoft.Extensions.DependencyInjection.Extensions;
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
        services.AddSqliteStorage().AddS3Storage().AddClickHouseStorage();
        services.AddSingleton(sp => new StorageEngines(sp.GetRequiredService<IOptions<StorageOptions>>().Value, sp.GetServices<IStorageEngine>(),
            sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<TimeProvider>()));
        // Each request reads and writes its tenant's view of the store (RequestTenant, set by ApiMiddleware).
        services.AddScoped<RequestTenant>();
        services.AddScoped(sp =>
        {
            var store = sp.GetRequiredService<StorageEngines>().Store;
            return new TenantStore(store, store, sp.GetRequiredService<RequestTenant>().Name);
        });
        services.AddScoped<IProfileWriter>(sp => sp.GetRequiredService<TenantStore>());
        services.AddScoped<IProfileReader>(sp => sp.GetRequiredService<TenantStore>());
        services.AddSingleton<IRetention>(sp => sp.GetRequiredService<StorageEngines>().Store);
        services.AddSingleton<IStorageSize>(sp => sp.GetRequiredService<StorageEngines>());
        services.AddSingleton<IRollupStatus>(sp => sp.GetRequiredService<StorageEngines>());
        services.AddSingleton<IJournalStatus>(sp => sp.GetRequiredService<StorageEngines>());
        services.AddHostedService<StorageStartupService>();
        services.AddHostedService<RetentionService>();
        services.AddHostedService<PieceBuildService>();
        services.AddHostedService<JournalShipService>();
        return services;
    }

    /// <summary>Registers the embedded engine, "sqlite" in Storage:Type.</summary>
    public static IServiceCollection AddSqliteStorage(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IStorageEngine, SqliteEngine>());
        return services;
    }

    /// <summary>Registers the S3 engine, "s3" in Storage:Type, configured by <see cref="StorageOptions.S3"/>.</summary>
    public static IServiceCollection AddS3Storage(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IStorageEngine, S3Engine>());
        return services;
    }

    /// <summary>Registers the ClickHouse engine, "clickhouse" in Storage:Type, configured by <see cref="StorageOptions.ClickHouse"/>.</summary>
    public static IServiceCollection AddClickHouseStorage(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IStorageEngine, ClickHouseEngine>());
        return services;
    }
}
