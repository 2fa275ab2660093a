using System.Globalization;
using System.Text;
using Hotpath.Pprof;
using Hotpath.Storage.Pieces;

namespace Hotpath.Storage.ClickHouse;

/// <summary>
/// Pieces on the one rollup model (<see cref="BucketGrid"/>, <see cref="PiecePlanner{TBody}"/>,
/// <see cref="PieceBuilder{TRef}"/>): 10-minute and hour pieces per label set, one for all sets together and one
/// per label group (<see cref="LabelGroups"/>) (<c>bucket_pieces</c>, ReplacingMergeTree; reads take the latest build of a bucket, so collectors that build
/// the same bucket at once, or a rebuild, count once). ClickHouse keeps no dirty marks, as collectors are
/// stateless: a piece records how many profiles it holds, and is stale while the profiles table has another
/// count there; a late profile makes the next pass build the bucket again, and until then it is read from finer
/// pieces and raw bodies.
/// </summary>
public sealed partial class ClickHouseProfileStore
{
    /// <summary>The levels ClickHouse builds, coarsest first: a minute's piece would mostly copy one profile.</summary>
    private static readonly int[] PieceLevels = [BucketGrid.Hour, BucketGrid.TenMinutes];

    // How far back a pass looks for buckets to build: older ones were built by earlier passes.
    private static readonly TimeSpan BucketLookBack = TimeSpan.FromDays(8);

    // How often a collector looks for buckets to build, and how soon after writes of its own: those wait in its folds.
    private static readonly TimeSpan BucketPass = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan WritePass = TimeSpan.FromSeconds(1);

    // How long a fold may hold writes that have not reached ClickHouse (a journal ships them) before its bucket is built the raw way.
    private static readonly long Landing = (long)TimeSpan.FromSeconds(30).TotalNanoseconds;

    private readonly SemaphoreSlim _pass = new(1, 1);
    private long _lastPassTicks = long.MinValue;
    private long _pendingBuckets;
    private int _writtenSincePass;
    private int _uncounted;

    /// <summary>
    /// Buckets the running pass found to build and has not built yet, plus one while writes came that no pass
    /// has counted yet (those before a pass count until it has found what they made stale).
    /// </summary>
    public long PendingBuckets => Interlocked.Read(ref _pendingBuckets) + Volatile.Read(ref _writtenSincePass) + Volatile.Read(ref _uncounted);

    /// <summary>Not measured for ClickHouse (its own system.parts says); 0.</summary>
    public long RollupBytes => 0;

    /// <summary>Pieces built from the profiles ingest had decoded (through this collector), without reading their bodies.</summary>
    public long PiecesFromIngest => _folds.Taken;

    public TimeSpan PassInterval => WritePass;

    /// <summary>
    /// Builds the pieces of the buckets over by <paramref name="now"/> (<see cref="BuildBucketsAsync"/>): every
    /// <see cref="BucketPass"/>, and every <see cref="WritePass"/> while this collector writes or its folds wait for their writes.
    /// </summary>
    public Task<int> BuildPiecesAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        Volatile.Read(ref _writtenSincePass) == 0 && now.UtcTicks - Volatile.Read(ref _lastPassTicks) < BucketPass.Ticks
            ? Task.FromResult(0)
            : BuildBucketsAsync(now, cancellationToken);

    /// <summary>Folds a profile ingest decoded into its label set's and its service's ten minutes (<see cref="IIngestFolding"/>).</summary>
    public void Fold(ProfileMeta meta, RawProfile decoded)
    {
        ArgumentNullException.ThrowIfNull(meta);
        if (meta.Type != ProfileType.Trace)
            _folds.Add(meta.Service, (int)meta.Type, LabelKey(meta.Labels), meta.Labels, meta.Id, meta.CreatedAtUnixNanos, UnixNanos.From(_time.GetUtcNow()), decoded);
    }

    // all_labels (a PieceKind) before bucket, and small granules: a merge reads the rows of one kind only, and their bodies
    // (tens of KB a row) without those of the rows beside them (a day's hour pieces: 1.3 MB, not 20).
    private string BucketPiecesTable => $"""
        CREATE TABLE IF NOT EXISTS {_db}.bucket_pieces (
            service String, type UInt8, width UInt32, bucket DateTime, all_labels UInt8, label_keys Array(String), label_values Array(String),
            profiles UInt32, built Int64, body String
        ) ENGINE = ReplacingMergeTree(built) PARTITION BY toYYYYMMDD(bucket)
        ORDER BY (service, type, width, all_labels, bucket, label_keys, label_values) SETTINGS index_granularity = 256
        """;

    /// <summary>
    /// Builds the pieces of every bucket over by <paramref name="now"/> (and by <see cref="BucketGrid.LateWrites"/>)
    /// whose pieces are missing or stale; returns how many buckets (of a service, type and width).
    /// </summary>
    public async Task<int> BuildBucketsAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await _pass.WaitAsync(cancellationToken);
        try
        {
            Volatile.Write(ref _lastPassTicks, now.UtcTicks);
            if (Interlocked.Exchange(ref _writtenSincePass, 0) != 0)
                Volatile.Write(ref _uncounted, 1);
            var built = await new PieceBuilder<string>(new PieceStore(this)).BuildAsync(UnixNanos.From(now), settledOnly: true, cancellationToken);
            _folds.DropIdle(UnixNanos.From(now));
            return built;
        }
        finally
        {
            Interlocked.Exchange(ref _pendingBuckets, 0);
            Volatile.Write(ref _uncounted, 0);
            _pass.Release();
        }
    }

    /// <summary>What a row of <c>bucket_pieces</c> is the piece of, in its <c>all_labels</c> column; a group's row holds its pair as its labels.</summary>
    private enum PieceKind : byte { LabelSet = 0, AllLabels = 1, Group = 2 }

    /// <summary>A piece's label key (<see cref="PendingPiece.Labels"/>) as a row's kind and labels.</summary>
    private static (PieceKind Kind, IReadOnlyList<ProfileLabel> Labels) RowOf(string labels) =>
        labels == BucketGrid.AllLabels ? (PieceKind.AllLabels, [])
        : LabelGroups.IsGroup(labels) ? (PieceKind.Group, [LabelGroups.PairOf(labels)])
        : (PieceKind.LabelSet, LabelSetKey.Decode(labels));

    /// <summary>A row's kind and labels as the piece's label key.</summary>
    private static string KeyOf(PieceKind kind, IReadOnlyList<ProfileLabel> labels) => kind switch
    {
        PieceKind.AllLabels => BucketGrid.AllLabels,
        PieceKind.Group => LabelGroups.Of(labels[0]),
        _ => LabelKey(labels),
    };

    /// <summary>
    /// The latest piece of each bucket of one width in [<paramref name="first"/>, <paramref name="last"/>] (bucket
    /// numbers, in widths since 1970) of the service and type, of one kind: the all-labels pieces, the groups' or
    /// the label sets' that the label filter matches, keyed by bucket number and label key.
    /// </summary>
    private async Task<Dictionary<(long Bucket, string Labels), (int Profiles, byte[] Body)>> LatestPiecesAsync(
        string service, ProfileType type, long width, long first, long last, PieceKind kind, IReadOnlyList<ProfileLabel> filter,
        IReadOnlyCollection<long>? only, CancellationToken cancellationToken)
    {
        // Not FINAL (it merges every part on one thread): rows a bucket's rebuild or a second builder left
        // beside each other are told apart here.
        var sql = new StringBuilder(
                $"SELECT toUInt32(bucket), label_keys, label_values, profiles, built, body FROM {_db}.bucket_pieces WHERE service = {Literal(service)}" +
                $" AND type = {(int)type} AND width = {width} AND all_labels = {(int)kind}")
            .Append(CultureInfo.InvariantCulture, $" AND bucket >= toDateTime({first * width}) AND bucket <= toDateTime({last * width})");
        if (only is not null)
            sql.Append(" AND toUInt32(bucket) IN (").AppendJoin(",", only.Select(b => (b * width).ToString(CultureInfo.InvariantCulture))).Append(')');
        AppendLabelFilter(sql, filter);
        var reader = new RowBinaryReader(await QueryAsync(sql.ToString(), cancellationToken));
        var pieces = new Dictionary<(long, string), (int Profiles, long Built, byte[] Body)>();
        while (!reader.End)
        {
            long bucket = reader.UInt32() / width;
            var key = (bucket, KeyOf(kind, [.. reader.Strings().Zip(reader.Strings(), (k, v) => new ProfileLabel(k, v))]));
            var profiles = (int)reader.UInt32();
            var built = reader.Int64();
            var body = reader.Bytes().ToArray();
            if (!pieces.TryGetValue(key, out var had) || had.Built < built)
                pieces[key] = (profiles, built, body);
        }

        return pieces.ToDictionary(p => p.Key, p => (p.Value.Profiles, p.Value.Body));
    }

    /// <summary>
    /// How many profiles the query selects per bucket of one width in [first, last]: per label set, or all it
    /// selects under <paramref name="together"/> (all-labels, or the group of its one label).
    /// </summary>
    private async Task<Dictionary<(long Bucket, string Labels), long>> CountsAsync(ProfileQuery query, long width, long first, long last, string? together,
        CancellationToken cancellationToken)
    {
        var labels = together is not null ? "" : ", label_keys, label_values";
        var sql = new StringBuilder($"SELECT toUInt32(intDiv(toUInt32(created_at), {width})) AS b{labels}, toInt64(count()) FROM {_db}.profiles");
        AppendWhere(sql, query with { FromUnixNanos = first * width * 1_000_000_000, ToUnixNanos = (last + 1) * width * 1_000_000_000 - 1 });
        sql.Append(CultureInfo.InvariantCulture, $" GROUP BY b{labels}");
        var reader = new RowBinaryReader(await QueryAsync(sql.ToString(), cancellationToken));
        var counts = new Dictionary<(long, string), long>();
        while (!reader.End)
        {
            long bucket = reader.UInt32();
            var key = together ?? LabelKey([.. reader.Strings().Zip(reader.Strings(), (k, v) => new ProfileLabel(k, v))]);
            counts[(bucket, key)] = counts.GetValueOrDefault((bucket, key)) + reader.Int64();
        }

        return counts;
    }
}
