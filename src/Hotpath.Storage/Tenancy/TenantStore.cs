using System.Runtime.CompilerServices;
using Hotpath.Pprof;

namespace Hotpath.Storage.Tenancy;

/// <summary>
/// One tenant's view of a store: it writes and reads that tenant's services only (<see cref="TenantServices"/>),
/// and what it answers names them as the tenant does. Profiles asked for by id are another tenant's are unknown.
/// </summary>
public sealed class TenantStore(IProfileReader reader, IProfileWriter writer, string tenant) : IProfileReader, IProfileWriter
{
    /// <summary>The tenant this view belongs to.</summary>
    public string Tenant { get; } = tenant;

    public async Task<ProfileMeta> WriteAsync(NewProfile profile, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var meta = await writer.WriteAsync(profile with { Service = TenantServices.Stored(Tenant, profile.Service) }, body, cancellationToken).ConfigureAwait(false);
        return meta with { Service = profile.Service };
    }

    public async Task<IReadOnlyList<ProfileMeta>> FindAsync(ProfileQuery query, CancellationToken cancellationToken) =>
        Scoped(query) is { } scoped ? Named(await reader.FindAsync(scoped, cancellationToken).ConfigureAwait(false)) : [];

    public async Task<IReadOnlyList<ProfileMeta>> GetAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken) =>
        Named(await reader.GetAsync(ids, cancellationToken).ConfigureAwait(false));

    public async IAsyncEnumerable<byte[]> OpenAsync(IReadOnlyList<string> ids, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Only the tenant's own: an id is no capability.
        var owned = await GetAsync(ids, cancellationToken).ConfigureAwait(false);
        if (owned.Count == 0)
            yield break;
        var ownedIds = owned.Count == ids.Count ? ids : [.. owned.Select(m => m.Id)];
        await foreach (var body in reader.OpenAsync(ownedIds, cancellationToken).ConfigureAwait(false))
            yield return body;
    }

    public async Task<IReadOnlyList<string>> ListServicesAsync(CancellationToken cancellationToken)
    {
        var stored = await reader.ListServicesAsync(cancellationToken).ConfigureAwait(false);
        var services = new List<string>(stored.Count);
        foreach (var name in stored)
        {
            if (TenantServices.Owned(Tenant, name) is { } service)
                services.Add(service);
        }

        // Stored names sort by tenant first; a tenant's own names keep their order.
        return services;
    }

    public Task<IReadOnlyList<ProfileLabel>> ListLabelsAsync(string service, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        return TenantServices.IsServiceName(service)
            ? reader.ListLabelsAsync(TenantServices.Stored(Tenant, service), cancellationToken)
            : Task.FromResult<IReadOnlyList<ProfileLabel>>([]);
    }

    public Task<MergeSource> OpenMergeAsync(ProfileQuery query, int maxRawProfiles, CancellationToken cancellationToken) =>
        Scoped(query) is { } scoped
            ? reader.OpenMergeAsync(scoped, maxRawProfiles, cancellationToken)
            : Task.FromResult(new MergeSource(0, 0, AsyncEnumerable.Empty<byte[]>()));

    public Task<IReadOnlyList<SeriesPoint>> SeriesAsync(ProfileQuery query, long resolutionNanos, CancellationToken cancellationToken) =>
        Scoped(query) is { } scoped ? reader.SeriesAsync(scoped, resolutionNanos, cancellationToken) : Task.FromResult<IReadOnlyList<SeriesPoint>>([]);

    public Task<IReadOnlyList<LabeledSeriesPoint>> SeriesByLabelAsync(ProfileQuery query, string key, long resolutionNanos, CancellationToken cancellationToken) =>
        Scoped(query) is { } scoped
            ? reader.SeriesByLabelAsync(scoped, key, resolutionNanos, cancellationToken)
            : Task.FromResult<IReadOnlyList<LabeledSeriesPoint>>([]);

    /// <summary>The query over the stored name of its service; null when no service of any tenant can have that name.</summary>
    private ProfileQuery? Scoped(ProfileQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        return TenantServices.IsServiceName(query.Service) ? query with { Service = TenantServices.Stored(Tenant, query.Service) } : null;
    }

    private List<ProfileMeta> Named(IReadOnlyList<ProfileMeta> stored)
    {
        var named = new List<ProfileMeta>(stored.Count);
        foreach (var meta in stored)
        {
            if (TenantServices.Owned(Tenant, meta.Service) is { } service)
                named.Add(ReferenceEquals(service, meta.Service) ? meta : meta with { Service = service });
        }

        return named;
    }
}
