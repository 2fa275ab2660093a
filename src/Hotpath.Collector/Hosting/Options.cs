using System.ComponentModel.DataAnnotations;

namespace Hotpath.Collector.Hosting;

/// <summary>The HTTP side of the collector.</summary>
public sealed class CollectorOptions
{
    public const string Section = "Collector";

    /// <summary>Where to listen: "host:port", ":port" for every interface (profefe's -addr form).</summary>
    [Required]
    [RegularExpression(@"^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$", ErrorMessage = "Address must look like \":10100\" or \"127.0.0.1:10100\"")]
    public string Address { get; set; } = ":10100";

    /// <summary>
    /// Where OpenTelemetry's gRPC profiles export is served (HTTP/2 without TLS, OTLP's port by default);
    /// empty turns it off. OTLP over HTTP is served on <see cref="Address"/> either way.
    /// </summary>
    [RegularExpression(@"^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$", ErrorMessage = "OtlpGrpcAddress must look like \":4317\" or \"127.0.0.1:4317\", or be empty")]
    public string? OtlpGrpcAddress { get; set; } = ":4317";

    /// <summary>Largest request body accepted, in bytes (compressed, as sent).</summary>
    [Range(1024, 1L << 32)]
    public long MaxBodySize { get; set; } = 32L * 1024 * 1024;

    /// <summary>Largest size a profile may inflate to, in bytes: the guard against gzip bombs.</summary>
    [Range(1024, 1L << 31)]
    public long MaxDecompressedSize { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// Most memory decoding one profile may take, in bytes (the inflated bytes and the arrays decoded from
    /// them, growth included): the guard against bombs of tiny elements, which inflate little but decode big.
    /// </summary>
    [Range(64 * 1024, 1L << 34)]
    public long MaxDecodeMemory { get; set; } = 256L * 1024 * 1024;

    /// <summary>Most memory all profiles being decoded at once may take; a decode past it gets a 503 to retry.</summary>
    [Range(64 * 1024, 1L << 36)]
    public long DecodeMemoryBudget { get; set; } = 512L * 1024 * 1024;

    /// <summary>Most profiles one merge may read; past it the merge is refused with a 400 that says so.</summary>
    [Range(1, 1_000_000)]
    public int MaxProfilesPerMerge { get; set; } = 10_000;

    /// <summary>
    /// Profiles the collector itself with the Hotpath agent (service "hotpath-collector"), pushing to its own
    /// address unless Hotpath:Agent:CollectorAddress says otherwise; the agent's other settings come from
    /// Hotpath:Agent too.
    /// </summary>
    public bool SelfProfile { get; set; }
}

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

    /// <summary>Profiles older than this are deleted; zero keeps them forever.</summary>
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

/// <summary>Optional bearer tokens. Empty means open, as profefe is.</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>Required on POST requests when set.</summary>
    public string? WriteToken { get; set; }

    /// <summary>Required on GET requests of the API when set.</summary>
    public string? ReadToken { get; set; }
}
