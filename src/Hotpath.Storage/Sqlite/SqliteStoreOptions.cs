using System.ComponentModel.DataAnnotations;

namespace Hotpath.Storage.Sqlite;

/// <summary>Settings of the embedded store.</summary>
public sealed class SqliteStoreOptions
{
    /// <summary>Folder of the database file; created when missing.</summary>
    [Required]
    public string DataDirectory { get; set; } = "data";

    /// <summary>Most writes committed in one transaction (one sync).</summary>
    [Range(1, 10_000)]
    public int MaxBatchSize { get; set; } = 512;

    /// <summary>Writes waiting for a commit; past it a write is refused at once with 503 (back-pressure, bounded memory).</summary>
    [Range(1, 100_000)]
    public int MaxPendingWrites { get; set; } = 4096;

    /// <summary>Size at which a body segment file is closed and the next begun; retention frees space a segment at a time.</summary>
    [Range(1024, 1L << 40)]
    public long MaxSegmentBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>How often the pieces of finished minutes, hours and days are built in the background.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan RollupInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Fewest profiles a piece of several parts is merged from; one of fewer keeps its counts only and merges read its
    /// parts (at most this many less one), so a sparse load (a backfill, a quiet service) stores no copies of merges
    /// of a few profiles, which are nearly as large as they are. 2: every piece of several parts is merged. Counted
    /// in profiles, not parts: a few parts that are merges of many (a fleet's minutes) merge into one much smaller.
    /// </summary>
    [Range(2, 64)]
    public int MinMergedProfiles { get; set; } = 8;

    public string DatabasePath => Path.Combine(DataDirectory, "hotpath.db");

    public string BodiesDirectory => Path.Combine(DataDirectory, "bodies");
}
