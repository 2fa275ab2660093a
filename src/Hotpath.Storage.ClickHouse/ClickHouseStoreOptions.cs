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
    /// How long one call to the engine may take before it counts as unavailable (set from Storage:Timeout).
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
}
