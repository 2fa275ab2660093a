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

    /// <summary>Writes waiting for a commit before new ones wait for room (back-pressure, bounded memory).</summary>
    [Range(1, 100_000)]
    public int MaxPendingWrites { get; set; } = 4096;

    public string DatabasePath => Path.Combine(DataDirectory, "hotpath.db");
}
