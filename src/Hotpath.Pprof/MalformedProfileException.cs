namespace Hotpath.Pprof;

/// <summary>The bytes are not a valid pprof profile; <see cref="Exception.Message"/> says why.</summary>
public sealed class MalformedProfileException(string reason, Exception? inner = null)
    : Exception(reason, inner);

/// <summary>A profile inflates past the configured cap: a gzip bomb, or simply too big to accept.</summary>
public sealed class ProfileTooLargeException(long limitBytes)
    : Exception($"decompressed profile exceeds the limit of {limitBytes} bytes")
{
    public long LimitBytes { get; } = limitBytes;
}

/// <summary>Profiles that cannot be merged: their sample types or period types differ.</summary>
public sealed class IncompatibleProfilesException(string reason) : Exception(reason);
