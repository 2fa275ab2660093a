using System.ComponentModel.DataAnnotations;

namespace Hotpath.Storage.S3;

/// <summary>Settings of the S3 store (Storage:S3). Credentials come from the standard AWS chain.</summary>
public sealed record S3StoreOptions
{
    [Required]
    public string Bucket { get; set; } = "";

    /// <summary>Key prefix for everything Hotpath writes, e.g. "hotpath/"; may be empty.</summary>
    public string Prefix { get; set; } = "";

    public string Region { get; set; } = "us-east-1";

    /// <summary>Endpoint of an S3-compatible service (MinIO, Ceph, s3rver); empty for AWS.</summary>
    public string? ServiceUrl { get; set; }

    /// <summary>Path-style addressing (bucket in the path), which most S3-compatible services need.</summary>
    public bool ForcePathStyle { get; set; }

    /// <summary>Create the bucket at start when it is missing.</summary>
    public bool CreateBucket { get; set; } = true;

    /// <summary>
    /// How long one call to the engine may take before it counts as unavailable (set from Storage:Timeout).
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
}
