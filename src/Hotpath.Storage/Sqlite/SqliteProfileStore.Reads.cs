using System.Runtime.CompilerServices;
using System.Text.Json;
using Hotpath.Pprof;
using Hotpath.Storage.Pieces;
using Microsoft.Data.Sqlite;

namespace Hotpath.Storage.Sqlite;

/// <summary>Finds, reads and merges: metadata from the index, bodies from the log, merges from the pieces that cover them.</summary>
public sealed partial class SqliteProfileStore
{
    /// <summary>
    /// A merge's bodies: for a type and no limit, the pre-merged pieces that cover the range and raw profiles
    /// only where none does (see <see cref="PiecePlanner{TBody}"/>); otherwise the raw bodies of what a find selects.
    /// </summary>
    public async Task<MergeSource> OpenMergeAsync(ProfileQuery query, int maxRawProfiles, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Type is null or ProfileType.Trace || query.Limit > 0)
            return await MergeSource.FromFindAsync(this, query, maxRawProfiles, cancellationToken).ConfigureAwait(false);

        await using var connection = Open();
        // One snapshot for the whole plan: a piece and the dirty marks beside it are read as of one moment.
        await using var tx = connection.BeginTransaction(deferred: true);
        var plan = await new PiecePlanner<BodyPlace>(new SqlitePieceIndex(connection, tx)).PlanAsync(query, cancellationToken).ConfigureAwait(false);
        return new MergeSource(plan.Profiles, plan.RawProfiles, ReadPieces(plan.Parts, cancellationToken).ToAsyncEnumerable());
    }

    /// <summary>A series from the pieces no wider than the resolution (a type, no limit), else from a find.</summary>
    public async Task<IReadOnlyList<SeriesPoint>> SeriesAsync(ProfileQuery query, long resolutionNanos, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Type is null or ProfileType.Trace || query.Limit > 0)
            return await SeriesPoint.FromFindAsync(this, query, cancellationToken).ConfigureAwait(false);

        await using var connection = Open();
        await using var tx = connection.BeginTransaction(deferred: true);
        var plan = await new PiecePlanner<BodyPlace>(new SqlitePieceIndex(connection, tx, withBodies: false))
            .PlanAsync(query, cancellationToken, resolutionNanos).ConfigureAwait(false);
        return [.. plan.Parts.Select(p => new SeriesPoint(p.Time, p.Profiles, p.Value))];
    }

    /// <summary>The series of each value of the key, from the pieces of each label set that carries it (one plan, not one a value).</summary>
    public async Task<IReadOnlyList<LabeledSeriesPoint>> SeriesByLabelAsync(ProfileQuery query, string key, long resolutionNanos, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Type is null or ProfileType.Trace || query.Limit > 0)
            return await LabeledSeriesPoint.FromFindAsync(this, query, key, cancellationToken).ConfigureAwait(false);

        await using var connection = Open();
        await using var tx = connection.BeginTransaction(deferred: true);
        var plan = await new PiecePlanner<BodyPlace>(new SqlitePieceIndex(connection, tx, withBodies: false))
            .PlanAsync(query, cancellationToken, resolutionNanos, byLabel: key).ConfigureAwait(false);
        var values = new Dictionary<string, string?>(StringComparer.Ordinal);
        var points = new List<LabeledSeriesPoint>(plan.Parts.Count);
        foreach (var piece in plan.Parts)
        {
            if (!values.TryGetValue(piece.Labels, out var value))
                values[piece.Labels] = value = LabelGroups.IsGroup(piece.Labels) ? LabelGroups.PairOf(piece.Labels).Value : ValueOf(LabelSetKey.Decode(piece.Labels), key);
            if (value is not null)
                points.Add(new LabeledSeriesPoint(value, new SeriesPoint(piece.Time, piece.Profiles, piece.Value)));
        }

        return points;
    }

    private static string? ValueOf(IReadOnlyList<ProfileLabel> labels, string key)
    {
        foreach (var label in labels)
        {
            if (label.Key == key)
                return label.Value;
        }

        return null;
    }

    /// <summary>The pieces' bodies, read lazily: a raw one from the body log, a pre-merged one as planned.</summary>
    private IEnumerable<byte[]> ReadPieces(IReadOnlyList<PlannedPiece<BodyPlace>> pieces, CancellationToken cancellationToken)
    {
        using var bodies = _log.OpenReader();
        foreach (var piece in pieces)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return piece.Body.Body ?? bodies.Read(piece.Body.Segment, piece.Body.Offset, piece.Body.Length);
        }
    }

    public async Task<IReadOnlyList<ProfileMeta>> FindAsync(ProfileQuery query, CancellationToken cancellationToken)
    {
        await using var connection = Open();
        await using var command = connection.CreateCommand();
        command.CommandText = FindSql.Build(query, command.Parameters);

        var found = new List<ProfileMeta>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var meta = ReadMeta(reader);
            if (!query.MatchesLabels(meta.Labels))
                continue;
            found.Add(meta);
            if (found.Count == query.Limit)
                break;
        }

        if (query.Limit > 0)
            found.Reverse(); // the newest N were read newest first
        return found;
    }

    public async Task<IReadOnlyList<ProfileMeta>> GetAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var byId = new Dictionary<string, ProfileMeta>(ids.Count, StringComparer.Ordinal);
        await using var connection = Open();
        foreach (var chunk in ids.Chunk(IdChunk))
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {FindSql.MetaColumns} FROM profiles p WHERE p.id IN (SELECT value FROM json_each($ids))";
            command.Parameters.AddWithValue("$ids", JsonSerializer.Serialize(chunk, StorageJson.Default.StringArray));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var meta = ReadMeta(reader);
                byId[meta.Id] = meta;
            }
        }

        var result = new List<ProfileMeta>(byId.Count);
        foreach (var id in ids)
        {
            if (byId.TryGetValue(id, out var meta))
                result.Add(meta);
        }

        return result;
    }

    public async IAsyncEnumerable<byte[]> OpenAsync(IReadOnlyList<string> ids, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = Open();
        var places = new Dictionary<string, (long Segment, long Offset, int Length)>(IdChunk, StringComparer.Ordinal);
        using var bodies = _log.OpenReader();
        foreach (var chunk in ids.Chunk(IdChunk))
        {
            places.Clear();
            await using (var command = connection.CreateCommand())
            {
                command.CommandText = "SELECT p.id, p.segment, p.body_offset, p.size FROM profiles p WHERE p.id IN (SELECT value FROM json_each($ids))";
                command.Parameters.AddWithValue("$ids", JsonSerializer.Serialize(chunk, StorageJson.Default.StringArray));
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    places[reader.GetString(0)] = (reader.GetInt64(1), reader.GetInt64(2), reader.GetInt32(3));
            }

            foreach (var id in chunk)
            {
                if (places.TryGetValue(id, out var place))
                    yield return bodies.Read(place.Segment, place.Offset, place.Length);
            }
        }
    }

    public async Task<IReadOnlyList<string>> ListServicesAsync(CancellationToken cancellationToken)
    {
        await using var connection = Open();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT service FROM services ORDER BY service";
        var services = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            services.Add(reader.GetString(0));
        return services;
    }

    public async Task<IReadOnlyList<ProfileLabel>> ListLabelsAsync(string service, CancellationToken cancellationToken)
    {
        await using var connection = Open();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT key, value FROM profile_labels WHERE service = $service ORDER BY key, value";
        command.Parameters.AddWithValue("$service", service);
        var labels = new List<ProfileLabel>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            labels.Add(new ProfileLabel(reader.GetString(0), reader.GetString(1)));
        return labels;
    }

    private static ProfileMeta ReadMeta(SqliteDataReader r) => new(
        Id: r.GetString(0),
        Service: r.GetString(1),
        Type: (ProfileType)r.GetInt32(2),
        InstanceId: r.GetString(3),
        Labels: LabelSetKey.Decode(r.GetString(4)),
        CreatedAtUnixNanos: r.GetInt64(5),
        Size: r.GetInt64(6),
        Value: r.GetInt64(7));
}
