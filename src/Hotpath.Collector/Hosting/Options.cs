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

/// <summary>Optional bearer tokens. Empty means open, as profefe is.</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>Required on POST requests when set; it may act for any tenant (X-Scope-OrgID).</summary>
    public string? WriteToken { get; set; }

    /// <summary>Required on GET requests of the API when set; it may read any tenant (X-Scope-OrgID).</summary>
    public string? ReadToken { get; set; }

    /// <summary>
    /// Tokens bound to one tenant each, by tenant name: a request with one acts for that tenant only, whatever
    /// X-Scope-OrgID it sends. When any tenant has a token of a kind, requests of that kind need a token.
    /// </summary>
    public Dictionary<string, TenantTokens> Tenants { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>The bearer tokens of one tenant (Auth:Tenants:&lt;name&gt;).</summary>
public sealed class TenantTokens
{
    /// <summary>Writes (and nothing else) for the tenant.</summary>
    public string? WriteToken { get; set; }

    /// <summary>Reads (and nothing else) for the tenant.</summary>
    public string? ReadToken { get; set; }
}
