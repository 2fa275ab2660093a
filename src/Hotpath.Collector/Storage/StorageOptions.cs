using System.ComponentModel.DataAnnotations;

namespace Hotpath.Collector.Storage;

/// <summary>Where profiles are kept and for how long.</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>The storage engines: "sqlite" (embedded), "s3", "clickhouse", or a comma list; writes go to all, reads to the first that serves.</summary>
    [Required]
    [RegularExpression(@"^\s*(sqlite|s3|clickhouse)\s*(,\s*(sqlite|s3|clickhouse)\s*)*$", ErrorMessage = "Storage:Type must be sqlite, s3, clickhouse, or a comma list of them")]
    public string Type { get; set; } = "sqlite";

    public IReadOnlyList<string> Types => [.. Type.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct()];

    /// <summary>Settings of the S3 engine (Storage:S3:Bucket, Prefix, Region, ServiceUrl, ForcePathStyle).</summary>
    public Hotpath.Storage.S3.S3StoreOptions S3 { get; set; } = new();

    /// <summary>Settings of the ClickHouse engine (Storage:ClickHouse:Url, Database, User, Password).</summary>
    public Hotpath.Storage.ClickHouse.ClickHouseStoreOptions ClickHouse { get; set; } = new();

    /// <summary>How long one call to a remote engine (S3, ClickHouse) may take before the request gets a 503.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Folder of the embedded store.</summary>
    [Required]
    public string DataDirectory { get; set; } = "data";

    /// <summary>
    /// Folder of the write journal that acknowledges writes to ClickHouse before it has them (one per
    /// collector, on a disk that outlives the process); default: "journal" in <see cref="DataDirectory"/>.
    /// </summary>
    public string? JournalDirectory { get; set; }

    /// <summary>How much the journal may hold that ClickHouse has not taken before writes get 503; 0 turns the journal off.</summary>
    [Range(0, long.MaxValue)]
    public long JournalMaxBytes { get; set; } = 1L << 30;

    /// <summary>How long a profile is kept, from when it was taken or, if it arrived later, from its arrival; zero keeps it forever.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "3650.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// Pre-merged aggregates (hour and day pieces) older than this are deleted; they answer merges of a range
    /// after its raw profiles are gone. Zero keeps them forever.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "36500.00:00:00")]
    public TimeSpan AggregateRetention { get; set; } = TimeSpan.FromDays(90);

    /// <summary>How often the retention job runs.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan RetentionInterval { get; set; } = TimeSpan.FromHours(1);
}
