namespace Hotpath.Storage.Pieces;

/// <summary>
/// The one grid of pre-merged pieces every engine builds on: minute, ten minutes, hour and day, each bucket
/// starting at a multiple of its width in Unix nanoseconds (UTC), so that each level's buckets nest in the
/// next. An engine builds the levels it chooses (<see cref="IPieceIndex{TBody}.Levels"/>), always from this grid.
/// </summary>
public static class BucketGrid
{
    public const int Minute = 0;
    public const int TenMinutes = 1;
    public const int Hour = 2;
    public const int Day = 3;

    /// <summary>
    /// The label set of a service's and type's every profile, whatever its labels: the pieces that answer a
    /// merge without a label filter. An encoded label set (<see cref="Hotpath.Pprof.LabelSetKey"/>) never reads so.
    /// </summary>
    public const string AllLabels = "*";

    /// <summary>
    /// A bucket is built once no write has reached it for this long: one that writes keep reaching (a client
    /// that stamps every profile with the same old time) would otherwise be rebuilt, whole, on every pass.
    /// Merges read such a bucket from finer pieces and raw profiles meanwhile.
    /// </summary>
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(2);

    /// <summary>
    /// For an engine that cannot see when a bucket was last written (ClickHouse, behind stateless collectors):
    /// a bucket is built once it has been over this long, the time agents take to upload their last profiles of it.
    /// A later write makes the bucket's piece stale, and the next pass builds it again.
    /// </summary>
    public static readonly TimeSpan LateWrites = TimeSpan.FromMinutes(2);

    private static readonly long[] Widths = [60L * 1_000_000_000, 600L * 1_000_000_000, 3_600L * 1_000_000_000, 86_400L * 1_000_000_000];

    /// <summary>A level's bucket width in nanoseconds.</summary>
    public static long Width(int level) => Widths[level];

    /// <summary>The start of the bucket that holds <paramref name="time"/>, rounding down for times before 1970 too.</summary>
    public static long Floor(int level, long time)
    {
        var width = Widths[level];
        var rest = time % width;
        return rest < 0 ? time - rest - width : time - rest;
    }
}
