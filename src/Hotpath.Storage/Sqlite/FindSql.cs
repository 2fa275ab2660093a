using Hotpath.Pprof;
using Microsoft.Data.Sqlite;

namespace Hotpath.Storage.Sqlite;

/// <summary>Builds the SQL of a find: driven by the label index when there is a label filter, else by the time index.</summary>
internal static class FindSql
{
    public const string MetaColumns = "p.id, p.service, p.type, p.instance_id, p.labels, p.created_at, p.size, p.value";

    private static readonly string AllTypes = string.Join(", ", ProfileTypes.All.Select(t => (int)t));

    public static string Build(ProfileQuery query, SqliteParameterCollection parameters)
    {
        parameters.AddWithValue("$service", query.Service);
        parameters.AddWithValue("$from", query.FromUnixNanos);
        parameters.AddWithValue("$to", query.ToUnixNanos);
        // Without a type, list every type so that the (service, type, created_at) index still serves the range.
        var type = query.Type is { } t ? ((int)t).ToString(System.Globalization.CultureInfo.InvariantCulture) : AllTypes;
        var order = query.Limit > 0 ? "DESC" : "ASC";
        // A filter is checked by the caller on each row, so the limit then counts what passed: the caller's too.
        var limit = query.Limit > 0 && query.Filter is null ? $" LIMIT {query.Limit}" : "";

        if (query.Labels.Count == 0)
        {
            return $"""
                SELECT {MetaColumns} FROM profiles p
                WHERE p.service = $service AND p.type IN ({type}) AND p.created_at BETWEEN $from AND $to
                ORDER BY p.created_at {order}, p.seq {order}{limit}
                """;
        }

        parameters.AddWithValue("$k0", query.Labels[0].Key);
        parameters.AddWithValue("$v0", query.Labels[0].Value);
        // One label drives, a range scan over exactly its matches; the others are checked on each match by
        // the caller (ProfileQuery.MatchesLabels), so that a filter costs its matches, not a join per pair. The limit then
        // counts what passed, so it is applied by the caller too unless this label is the whole filter.
        var labelLimit = query.Labels.Count == 1 ? limit : "";

        // CROSS JOIN keeps SQLite from reordering: the label range scan drives, profiles are looked up by seq.
        return $"""
            SELECT {MetaColumns} FROM profile_labels l CROSS JOIN profiles p ON p.seq = l.seq
            WHERE l.service = $service AND l.key = $k0 AND l.value = $v0 AND l.type IN ({type}) AND l.created_at BETWEEN $from AND $to
            ORDER BY l.created_at {order}, l.seq {order}{labelLimit}
            """;
    }
}
