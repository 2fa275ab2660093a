using Hotpath.Pprof;

namespace Hotpath.Storage;

/// <summary>What the store knows of a profile besides its bytes.</summary>
/// <param name="CreatedAtUnixNanos">Creation time in nanoseconds since the Unix epoch, UTC, at full precision.</param>
/// <param name="Size">Length of the stored body in bytes.</param>
/// <param name="Value">Total of the profile's main sample type (pprof's default), for charts; 0 for traces.</param>
public sealed record ProfileMeta(
    string Id,
    string Service,
    ProfileType Type,
    string InstanceId,
    IReadOnlyList<ProfileLabel> Labels,
    long CreatedAtUnixNanos,
    long Size,
    long Value = 0)
{
    /// <summary>
    /// The engines that hold the profile, set by a write to several engines (null otherwise); not part of
    /// what is stored or compared.
    /// </summary>
    public IReadOnlyList<string>? StoredIn { get; init; }

    /// <summary>Equal when every field is, labels compared element by element.</summary>
    public bool Equals(ProfileMeta? other) =>
        other is not null && Id == other.Id && Service == other.Service && Type == other.Type && InstanceId == other.InstanceId
        && CreatedAtUnixNanos == other.CreatedAtUnixNanos && Size == other.Size && Value == other.Value && Labels.SequenceEqual(other.Labels);

    public override int GetHashCode() => HashCode.Combine(Id, CreatedAtUnixNanos);
}

/// <summary>A profile to store: its metadata, and an id when the caller chose one (several stores writing the same profile).</summary>
public sealed record NewProfile(
    string Service,
    ProfileType Type,
    string InstanceId,
    IReadOnlyList<ProfileLabel> Labels,
    long CreatedAtUnixNanos,
    long Value = 0,
    string? Id = null)
{
    /// <summary>
    /// The profile as ingest decoded it to validate it, valid until the write completes: an engine that
    /// pre-merges may fold it rather than decode the body again. Null when the caller did not decode it.
    /// </summary>
    public Pprof.RawProfile? Decoded { get; init; }
}

/// <summary>
/// A label filter beyond <see cref="ProfileQuery.Labels"/>' subset match (a selector's <c>!=</c>, <c>=~</c>,
/// <c>!~</c>): engines apply it to each label set, after whatever their own index narrowed.
/// </summary>
public interface ILabelFilter
{
    bool Matches(IReadOnlyList<ProfileLabel> labels);
}

/// <summary>
/// A find: one service, an inclusive time window, optionally a type and a label subset.
/// <paramref name="Limit"/> keeps the newest N matches when positive; results are always oldest first.
/// </summary>
/// <param name="Filter">A further label filter every match passes, or null.</param>
public sealed record ProfileQuery(
    string Service,
    ProfileType? Type,
    long FromUnixNanos,
    long ToUnixNanos,
    IReadOnlyList<ProfileLabel> Labels,
    int Limit = 0,
    ILabelFilter? Filter = null)
{
    /// <summary>True when the query selects by labels at all (a subset or a filter).</summary>
    public bool HasLabelFilter => Labels.Count > 0 || Filter is not null;

    /// <summary>
    /// The label filter's rule: a label set matches when it has every queried pair (a subset match) and passes
    /// <see cref="Filter"/>.
    /// </summary>
    public bool MatchesLabels(IReadOnlyList<ProfileLabel> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        foreach (var label in Labels)
        {
            if (!labels.Contains(label))
                return false;
        }

        return Filter?.Matches(labels) ?? true;
    }
}

/// <summary>Stores profiles. A completed write is durable: it survives a crash of the process.</summary>
public interface IProfileWriter
{
    /// <summary>
    /// Stores the bytes exactly as given and returns the metadata with its new id. The caller may reuse the
    /// body's memory once the returned task completes.
    /// </summary>
    /// <exception cref="StorageUnavailableException">The backend cannot take the write now.</exception>
    Task<ProfileMeta> WriteAsync(NewProfile profile, ReadOnlyMemory<byte> body, CancellationToken cancellationToken);
}

/// <summary>Finds and reads stored profiles.</summary>
public interface IProfileReader
{
    /// <summary>Matches of the query, oldest first; empty when nothing matches.</summary>
    Task<IReadOnlyList<ProfileMeta>> FindAsync(ProfileQuery query, CancellationToken cancellationToken);

    /// <summary>Metadata of those of the ids that exist, in the order asked; unknown ids are left out.</summary>
    Task<IReadOnlyList<ProfileMeta>> GetAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken);

    /// <summary>The stored bytes of each id, in the order asked, read lazily so that a caller holds one at a time.</summary>
    IAsyncEnumerable<byte[]> OpenAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken);

    /// <summary>Every service with at least one stored profile, sorted ordinally.</summary>
    Task<IReadOnlyList<string>> ListServicesAsync(CancellationToken cancellationToken);

    /// <summary>The distinct label pairs a service's stored profiles carry, sorted by key then value.</summary>
    Task<IReadOnlyList<ProfileLabel>> ListLabelsAsync(string service, CancellationToken cancellationToken);

    /// <summary>
    /// What a merge of the query's selection (a type, no limit) reads: pprof bodies, raw profiles or pieces
    /// pre-merged by the engine, whose merge is the merge of every selected profile. An engine without
    /// pre-merged pieces gives the raw bodies; it stops counting past <paramref name="maxRawProfiles"/>
    /// (<see cref="int.MaxValue"/>: it gives them all).
    /// </summary>
    Task<MergeSource> OpenMergeAsync(ProfileQuery query, int maxRawProfiles, CancellationToken cancellationToken);

    /// <summary>
    /// Profiles over time: points of at most <paramref name="resolutionNanos"/> each (a pre-merged piece or
    /// one profile), with how many profiles and how much of their main value they hold, in no given order.
    /// </summary>
    Task<IReadOnlyList<SeriesPoint>> SeriesAsync(ProfileQuery query, long resolutionNanos, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="SeriesAsync"/> of each value of the label <paramref name="key"/> among the selection, in one
    /// pass (the tag explorer ranks thousands of values): points of the profiles that carry the key, each with
    /// its value; profiles without it are left out.
    /// </summary>
    Task<IReadOnlyList<LabeledSeriesPoint>> SeriesByLabelAsync(ProfileQuery query, string key, long resolutionNanos, CancellationToken cancellationToken);
}

/// <summary>A point of the series of one value of a label.</summary>
public readonly record struct LabeledSeriesPoint(string Value, SeriesPoint Point)
{
    /// <summary>One point per profile a find selects that carries the key: for engines that pre-merge nothing.</summary>
    public static async Task<IReadOnlyList<LabeledSeriesPoint>> FromFindAsync(IProfileReader reader, ProfileQuery query, string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var found = await reader.FindAsync(query, cancellationToken).ConfigureAwait(false);
        var points = new List<LabeledSeriesPoint>(found.Count);
        foreach (var meta in found)
        {
            foreach (var label in meta.Labels)
            {
                if (label.Key == key)
                    points.Add(new LabeledSeriesPoint(label.Value, new SeriesPoint(meta.CreatedAtUnixNanos, 1, meta.Value)));
            }
        }

        return points;
    }
}

/// <summary>Profiles at a time: one profile, or a piece of many starting then.</summary>
public readonly record struct SeriesPoint(long TimeUnixNanos, int Profiles, long Value)
{
    /// <summary>One point per profile a find selects: for engines that pre-merge nothing.</summary>
    public static async Task<IReadOnlyList<SeriesPoint>> FromFindAsync(IProfileReader reader, ProfileQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var found = await reader.FindAsync(query, cancellationToken).ConfigureAwait(false);
        return [.. found.Select(m => new SeriesPoint(m.CreatedAtUnixNanos, 1, m.Value))];
    }
}

/// <summary>The bodies of a merge, in time order, and what they stand for.</summary>
/// <param name="Profiles">How many stored profiles the bodies hold together.</param>
/// <param name="RawProfiles">How many of the bodies are raw profiles (each one decoded); the rest are pre-merged pieces.</param>
public sealed record MergeSource(int Profiles, int RawProfiles, IAsyncEnumerable<byte[]> Bodies)
{
    /// <summary>The raw bodies of what a find selects: for engines that pre-merge nothing.</summary>
    public static async Task<MergeSource> FromFindAsync(IProfileReader reader, ProfileQuery query, int maxRawProfiles, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(query);
        var found = await reader.FindAsync(query with { Limit = FindLimit(query, maxRawProfiles) }, cancellationToken).ConfigureAwait(false);
        return new MergeSource(found.Count, found.Count, reader.OpenAsync([.. found.Select(m => m.Id)], cancellationToken));
    }

    /// <summary>
    /// The limit of a find for a merge of at most <paramref name="maxRawProfiles"/>: one past the most, to tell
    /// "exactly the most" from "too many"; a smaller limit of the query's own stands. <see cref="int.MaxValue"/>
    /// is no most: the query's own limit, or none (0).
    /// </summary>
    public static int FindLimit(ProfileQuery query, int maxRawProfiles)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (maxRawProfiles == int.MaxValue)
            return query.Limit;
        return query.Limit > 0 ? Math.Min(query.Limit, maxRawProfiles + 1) : maxRawProfiles + 1;
    }
}

/// <summary>Deletes what is past retention.</summary>
public interface IRetention
{
    /// <summary>
    /// Deletes every profile both taken and written before <paramref name="cutoffUnixNanos"/> (its write time
    /// is in its id, <see cref="ProfileId.FirstAt"/>): a profile that arrives late, imported or flushed after an
    /// outage, is kept for the retention from its arrival, as profefe's TTL counts. Deletes pre-merged
    /// aggregates of time before <paramref name="aggregateCutoffUnixNanos"/> unless raw profiles of theirs
    /// remain; returns how many profiles were deleted.
    /// </summary>
    Task<int> DeleteOlderThanAsync(long cutoffUnixNanos, long aggregateCutoffUnixNanos, CancellationToken cancellationToken);
}

/// <summary>Whether a backend can serve now, for health checks.</summary>
public interface IStorageProbe
{
    /// <summary>The backend's name (e.g. "clickhouse"), never its credentials.</summary>
    string Backend { get; }

    /// <summary>Completes when the backend answers; throws <see cref="StorageUnavailableException"/> when it cannot.</summary>
    Task ProbeAsync(CancellationToken cancellationToken);
}

/// <summary>A whole storage engine: what every backend implements and the contract test suite checks.</summary>
public interface IProfileStore : IProfileWriter, IProfileReader, IRetention, IStorageProbe;

/// <summary>
/// Objects in a store of bytes (S3): where an engine that keeps metadata only (ClickHouse) puts the bodies,
/// many to an object, and reads them back by range.
/// </summary>
public interface IObjectStore : IStorageProbe
{
    /// <summary>Stores the object whole under <paramref name="key"/> (relative to the store's own prefix).</summary>
    Task PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);

    /// <summary>
    /// Bytes <paramref name="offset"/> to <paramref name="offset"/> + <paramref name="length"/> of an object;
    /// null when the object is not there.
    /// </summary>
    Task<byte[]?> ReadAsync(string key, long offset, int length, CancellationToken cancellationToken);

    /// <summary>Deletes the objects; keys that are not there are no error.</summary>
    Task DeleteAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken);
}

/// <summary>How much space a store takes, for the store-size metric.</summary>
public interface IStorageSize
{
    long SizeBytes { get; }
}

/// <summary>A store that pre-merges: how far behind its pieces are and what they take, for metrics.</summary>
public interface IRollupStatus
{
    /// <summary>Buckets written since their piece was built (those merges read raw, or from finer pieces).</summary>
    long PendingBuckets { get; }

    /// <summary>Bytes of the pre-merged bodies.</summary>
    long RollupBytes { get; }
}

/// <summary>
/// An engine that pre-merges what ingest decoded (<see cref="Pieces.IngestFolds"/>), for a store in front of it that
/// acknowledges writes before they reach the engine (<see cref="Journal.JournaledProfileStore"/>): each profile is
/// folded when acknowledged, and its pieces are taken from the folds once the writes have landed.
/// </summary>
public interface IIngestFolding
{
    /// <summary>Folds a profile ingest decoded (valid only during the call) under the metadata it is written with.</summary>
    void Fold(ProfileMeta meta, Pprof.RawProfile decoded);
}

/// <summary>
/// An engine that pre-merges the profiles of finished buckets into pieces. The engine builds when asked; the host
/// runs the passes (one hosted service for every engine), so a store starts no work of its own.
/// </summary>
public interface IPieceBuilder
{
    /// <summary>How often a pass is worth running.</summary>
    TimeSpan PassInterval { get; }

    /// <summary>Builds the pieces of the buckets over and settled by <paramref name="now"/>; how many it built.</summary>
    Task<int> BuildPiecesAsync(DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>
/// A store that acknowledges writes before its engine has them and ships them there in the background: the host
/// runs the shipping (one hosted service), so the store starts no work of its own.
/// </summary>
public interface IJournalShipping
{
    /// <summary>Ships until <paramref name="stoppingToken"/> is cancelled, then drains for a few seconds.</summary>
    Task ShipAsync(CancellationToken stoppingToken);
}

/// <summary>A store that acknowledges writes before its engine has them: how many the engine has still to take, for metrics.</summary>
public interface IJournalStatus
{
    int PendingProfiles { get; }
}

/// <summary>A storage backend cannot serve now (down, unreachable, out of space).</summary>
public sealed class StorageUnavailableException(string backend, string message, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The backend's name (e.g. "sqlite"), never its credentials.</summary>
    public string Backend { get; } = backend;
}
