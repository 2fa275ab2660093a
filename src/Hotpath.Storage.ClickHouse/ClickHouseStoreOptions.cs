using System.ComponentModel.DataAnnotations;

namespace Hotpath.Storage.ClickHouse;

/// <summary>Settings of the ClickHouse store (Storage:ClickHouse).</summary>
public sealed record ClickHouseStoreOptions
{
    /// <summary>The HTTP interface, e.g. http://127.0.0.1:8123.</summary>
    [Required]
    public string Url { get; set; } = "http://127.0.0.1:8123";

    /// <summary>Created with its tables at start when missing.</summary>
    [Required]
    [RegularExpression("^[A-Za-z_][A-Za-z0-9_]*$")]
    public string Database { get; set; } = "hotpath";

    public string User { get; set; } = "default";

    public string Password { get; set; } = "";

    /// <summary>
    /// How many ten-minute pieces (a label set's, a service's) a collector merges in memory as it ingests them, for
    /// its builder to take rather than read and decode the bodies again; about 1.5 MB each at the height of a burst
    /// (a 20-instance fleet's day written at once filled 512: 870 MB resident). 0: none.
    /// </summary>
    [Range(0, 65536)]
    public int IngestFolds { get; set; } = 512;

    /// <summary>
    /// How long one call to the engine may take before it counts as unavailable (set from Storage:Timeout).
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
}
