using System.Globalization;
using Hotpath.Pprof;

namespace Hotpath.Storage.ClickHouse;

/// <summary>Retention: whole days in which nothing was written within the retention, and the S3 objects no row refers to.</summary>
public sealed partial class ClickHouseProfileStore
{
    /// <summary>Deletes raw profiles past the cutoff, with the pieces of their days.</summary>
    public async Task<int> DeleteOlderThanAsync(long cutoffUnixNanos, long aggregateCutoffUnixNanos, CancellationToken cancellationToken)
    {
        var cutoffDay = int.Parse(UnixNanos.ToDateTimeOffset(cutoffUnixNanos).ToString("yyyyMMdd", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var rows = await QueryAsync(
            // A day goes whole, once nothing in it was written within the retention (a late arrival keeps its day).
            $"SELECT toUInt32(toYYYYMMDD(created_at)) AS day, toUInt32(count()) FROM {_db}.profiles GROUP BY day " +
            $"HAVING day < {cutoffDay} AND max(id) < {Literal(ProfileId.FirstAt(cutoffUnixNanos))} ORDER BY day", cancellationToken);
        var deleted = 0;
        var days = new List<uint>();
        for (var i = 0; i + 8 <= rows.Length; i += 8)
        {
            days.Add(BitConverter.ToUInt32(rows, i));
            deleted += (int)BitConverter.ToUInt32(rows, i + 4);
        }

        var objects = _bodies is null || days.Count == 0 ? [] : await ObjectsAsync($"toYYYYMMDD(created_at) IN ({string.Join(",", days)})", cancellationToken);
        foreach (var day in days)
        {
            foreach (var table in new[] { "profiles", "profile_ids", "bucket_pieces" })
                await ExecuteAsync($"ALTER TABLE {_db}.{table} DROP PARTITION {day}", cancellationToken);
        }

        if (objects.Count > 0)
        {
            // An object may hold bodies of a later day too (a batch across midnight): those stay.
            objects.ExceptWith(await ObjectsAsync($"body_object IN ({string.Join(",", objects.Select(Literal))})", cancellationToken));
            await _bodies!.DeleteAsync(objects, cancellationToken);
        }

        return deleted;
    }

    private async Task<HashSet<string>> ObjectsAsync(string where, CancellationToken cancellationToken)
    {
        var reader = new RowBinaryReader(await QueryAsync($"SELECT DISTINCT body_object FROM {_db}.profiles WHERE body_object != '' AND {where}", cancellationToken));
        var objects = new HashSet<string>(StringComparer.Ordinal);
        while (!reader.End)
            objects.Add(reader.String());
        return objects;
    }
}
