namespace Hotpath.Pprof;

/// <summary>The bytes are not a valid pprof profile; <see cref="Exception.Message"/> says why.</summary>
public sealed class MalformedProfileException(string reason, Exception? inner = null)
    : Exception(reason, inner)
{
    /// <summary>
    /// The profile is well-formed but holds no samples: what profefe's agent sends each minute for a type with
    /// nothing to sample, which an import skips rather than counts as a failure.
    /// </summary>
    public bool HasNoSamples { get; private init; }

    public static MalformedProfileException NoSamples() => new("profile has no samples") { HasNoSamples = true };
}

/// <summary>Which limit a profile passed.</summary>
public enum ProfileLimit
{
    /// <summary>The size it inflates to.</summary>
    DecompressedSize,

    /// <summary>The memory its decode takes (inflated bytes and decoded arrays).</summary>
    DecodedMemory,
}

/// <summary>A profile passes a configured limit: a gzip bomb, a decompression bomb of tiny elements, or simply too big.</summary>
public sealed class ProfileTooLargeException(long limitBytes, ProfileLimit limit = ProfileLimit.DecompressedSize)
    : Exception(limit == ProfileLimit.DecompressedSize
        ? $"decompressed profile exceeds the limit of {limitBytes} bytes"
        : $"decoding the profile takes more than the limit of {limitBytes} bytes of memory")
{
    public long LimitBytes { get; } = limitBytes;

    public ProfileLimit Limit { get; } = limit;
}

/// <summary>Decodes in flight hold the whole shared decode budget; this one may be retried shortly.</summary>
public sealed class DecodeBudgetExhaustedException(long totalBytes)
    : Exception($"profiles being decoded hold the whole decode budget of {totalBytes} bytes")
{
    public long TotalBytes { get; } = totalBytes;
}

/// <summary>Profiles that cannot be merged: their sample types or period types differ.</summary>
public sealed class IncompatibleProfilesException(string reason) : Exception(reason);
