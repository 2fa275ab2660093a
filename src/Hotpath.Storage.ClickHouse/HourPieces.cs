using System.Globalization;
using System.Text;
using Google.Protobuf;
using Hotpath.Pprof;

namespace Hotpath.Storage.ClickHouse;

/// <summary>
/// Hour pieces: once an hour is over, any collector merges its profiles into one pprof per label set and one
/// for all label sets together (<c>hour_pieces</c>, ReplacingMergeTree, read with FINAL: collectors that
/// build the same hour at once leave one row). A piece records how many profiles it holds, so a merge uses
/// it only while the profiles table still has exactly those; a late profile makes the next pass build the
/// hour again, and until then the hour is read from minute pieces and raw bodies.
/// </summary>
public sealed partial class ClickHouseProfileStore
{
    private const long NanosPerHour = 3_600_000_000_000;

    // An hour is built once it has been over this long (late writes of agents' last uploads).
    private static readonly TimeSpan HourSettle = TimeSpan.FromMinutes(2);

    // How far back a pass looks for hours to build: older hours were built by earlier passes.
    private static readonly TimeSpan HourLookBack = TimeSpan.FromDays(8);

    // How often a collector looks for hours to build.
    private static readonly TimeSpan HourPass = TimeSpan.FromSeconds(30);

    private long _pendingHours;
    private int _writtenSincePass;

    /// <summary>Hours the last pass found to build and has not built yet, plus one while writes came after that pass began.</summary>
    public long PendingBuckets => Interlocked.Read(ref _pendingHours) + Volatile.Read(ref _writtenSincePass);

    /// <summary>Not measured for ClickHouse (its own system.parts says); 0.</summary>
    public long RollupBytes => 0;

    private async Task HourLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(HourPass, _stopping.Token);
                await BuildHoursAsync(DateTimeOffset.UtcNow, _stopping.Token);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (StorageUnavailableException)
            {
                // ClickHouse is away: requests say so (503, /healthz); the next pass tries again.
            }
        }
    }

    private string HourPiecesTable => $"""
        CREATE TABLE IF NOT EXISTS {_db}.hour_pieces (
            service String, type UInt8, hour DateTime, all_labels UInt8, label_keys Array(String), label_values Array(String),
            profiles UInt32, built Int64, body String
        ) ENGINE = ReplacingMergeTree(built) PARTITION BY toYYYYMMDD(hour) ORDER BY (service, type, hour, all_labels, label_keys, label_values)
        """;

    /// <summary>Builds the hour pieces of every hour over by <paramref name="now"/> whose pieces are missing or stale; returns how many hours.</summary>
    public async Task<int> BuildHoursAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var before = FloorDiv(UnixNanos.From(now - HourSettle), NanosPerHour) * 3600;
        var since = Math.Max(0, FloorDiv(UnixNanos.From(now - HourLookBack), NanosPerHour) * 3600);
        Volatile.Write(ref _writtenSincePass, 0);
        var built = await BuiltHoursAsync(since, cancellationToken);
        var rows = await QueryAsync(
            $"SELECT service, type, toUInt32(intDiv(toUInt32(created_at), 3600) * 3600) AS h, toUInt32(count()) FROM {_db}.profiles " +
            $"WHERE type != {(int)ProfileType.Trace} AND created_at >= toDateTime({since}) AND created_at < toDateTime({before}) GROUP BY service, type, h", cancellationToken);
        var stale = new List<(string Service, ProfileType Type, long Hour)>();
        var counts = new RowBinaryReader(rows);
        while (!counts.End)
        {
            var key = (counts.String(), (ProfileType)counts.UInt8(), (long)counts.UInt32());
            var stored = counts.UInt32();
            if (!built.TryGetValue(key, out var had) || had != stored)
                stale.Add(key);
        }

        Interlocked.Exchange(ref _pendingHours, stale.Count);
        foreach (var (service, type, hour) in stale)
        {
            await BuildHourAsync(service, type, hour, cancellationToken);
            Interlocked.Decrement(ref _pendingHours);
        }

        return stale.Count;
    }

    private async Task<Dictionary<(string, ProfileType, long), uint>> BuiltHoursAsync(long since, CancellationToken cancellationToken)
    {
        var reader = new RowBinaryReader(await QueryAsync(
            $"SELECT service, type, toUInt32(hour), profiles FROM {_db}.hour_pieces FINAL WHERE all_labels = 1 AND hour >= toDateTime({since})", cancellationToken));
        var built = new Dictionary<(string, ProfileType, long), uint>();
        while (!reader.End)
            built[(reader.String(), (ProfileType)reader.UInt8(), reader.UInt32())] = reader.UInt32();
        return built;
    }

    private async Task BuildHourAsync(string service, ProfileType type, long hourSeconds, CancellationToken cancellationToken)
    {
        var start = hourSeconds * 1_000_000_000;
        var metas = await FindAsync(new ProfileQuery(service, type, start, start + NanosPerHour - 1, []), cancellationToken);
        var byId = metas.ToDictionary(m => m.Id, StringComparer.Ordinal);
        var sets = new Dictionary<string, (IReadOnlyList<ProfileLabel> Labels, ProfileMerger Merger)>(StringComparer.Ordinal);
        var all = new ProfileMerger();
        var decoder = new ProfileDecoder();
        var raw = new RawProfile();
        var index = 0;
        try
        {
            await foreach (var body in OpenAsync([.. metas.Select(m => m.Id)], cancellationToken))
            {
                var meta = metas[index++];
                decoder.Load(body, raw);
                var key = LabelKey(meta.Labels);
                if (!sets.TryGetValue(key, out var set))
                    sets[key] = set = (meta.Labels, new ProfileMerger());
                set.Merger.Add(raw);
                all.Add(raw);
            }
        }
        catch (Exception e) when (e is MalformedProfileException or IncompatibleProfilesException or ProfileTooLargeException)
        {
            return; // an hour that does not merge is read raw, as a merge of it would fail anyway
        }

        var rows = new RowBinaryWriter();
        var builtAt = DateTimeOffset.UtcNow.UtcTicks;
        void Row(bool allLabels, IReadOnlyList<ProfileLabel> labels, int profiles, Pprof.Proto.Profile merged)
        {
            rows.String(service);
            rows.UInt8((byte)type);
            rows.UInt32((uint)hourSeconds);
            rows.UInt8(allLabels ? (byte)1 : (byte)0);
            rows.Strings([.. labels.Select(l => l.Key)]);
            rows.Strings([.. labels.Select(l => l.Value)]);
            rows.UInt32((uint)profiles);
            rows.Int64(builtAt);
            rows.Bytes(merged.ToByteArray());
        }

        if (index != byId.Count || all.Count == 0)
            return; // a body went missing meanwhile (retention): next pass
        foreach (var (labels, merger) in sets.Values)
            Row(false, labels, merger.Count, merger.Build());
        Row(true, [], all.Count, all.Build());
        await InsertAsync("hour_pieces", rows.Written);
    }

    /// <summary>
    /// The whole hours of the range from their pieces where the profiles table holds exactly the profiles a
    /// piece does (all label sets at once when the query filters on none); returns their bodies and the
    /// profiles they do not cover.
    /// </summary>
    private async Task<(List<byte[]> Bodies, List<ProfileMeta> Uncovered)> HourPiecesAsync(ProfileQuery query, long from, long to, List<ProfileMeta> found, CancellationToken cancellationToken)
    {
        var firstHour = FloorDiv(from + NanosPerHour - 1, NanosPerHour);
        var lastHour = FloorDiv(to - NanosPerHour + 1, NanosPerHour);
        if (firstHour > lastHour || to < NanosPerHour)
            return ([], found);
        var everything = query.Labels.Count == 0;
        var sql = new StringBuilder($"SELECT toUInt32(hour), label_keys, label_values, profiles, body FROM {_db}.hour_pieces FINAL WHERE service = {Literal(query.Service)}")
            .Append(CultureInfo.InvariantCulture, $" AND type = {(int)query.Type!} AND hour >= toDateTime({firstHour * 3600}) AND hour <= toDateTime({lastHour * 3600}) AND all_labels = {(everything ? 1 : 0)}");
        foreach (var label in query.Labels)
            sql.Append(CultureInfo.InvariantCulture, $" AND arrayExists((k, v) -> k = {Literal(label.Key)} AND v = {Literal(label.Value)}, label_keys, label_values)");
        var reader = new RowBinaryReader(await QueryAsync(sql.ToString(), cancellationToken));
        var pieces = new Dictionary<(long Hour, string Labels), (uint Profiles, byte[] Body)>();
        while (!reader.End)
        {
            long hour = reader.UInt32() / 3600;
            var labels = LabelKey(reader.Strings().Zip(reader.Strings(), (k, v) => new ProfileLabel(k, v)).ToList());
            pieces[(hour, labels)] = (reader.UInt32(), reader.Bytes().ToArray());
        }

        (long, string) KeyOf(ProfileMeta m) => (FloorDiv(m.CreatedAtUnixNanos, NanosPerHour), everything ? "" : LabelKey(m.Labels));
        var counts = found.GroupBy(KeyOf).ToDictionary(g => g.Key, g => g.Count());
        var used = pieces.Where(p => p.Key.Hour >= firstHour && p.Key.Hour <= lastHour && counts.TryGetValue(p.Key, out var count) && count == p.Value.Profiles)
            .Select(p => p.Key).ToHashSet();
        return ([.. used.Select(key => pieces[key].Body)], [.. found.Where(m => !used.Contains(KeyOf(m)))]);
    }

    private static string LabelKey(IReadOnlyList<ProfileLabel> labels) => string.Join('\0', labels.Select(l => l.Key + "=" + l.Value));
}
