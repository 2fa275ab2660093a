namespace Hotpath.Collector.Hosting;

/// <summary>The collector's log messages, source-generated.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Hotpath collector {Version} listening on {Address}, storage {Storage} in {DataDirectory}, retention {Retention}")]
    public static partial void Started(ILogger logger, string version, string address, string storage, string dataDirectory, TimeSpan retention);

    [LoggerMessage(EventId = 2, Level = LogLevel.Critical, Message = "Cannot start: {Reason} Another process listens there; set {Setting}")]
    public static partial void AddressInUse(ILogger logger, string reason, string setting);

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Rejected profile for {Service}: {Reason}")]
    public static partial void ProfileRejected(ILogger logger, string service, string reason);

    [LoggerMessage(EventId = 20, Level = LogLevel.Error, Message = "Request {Method} {Path} failed")]
    public static partial void RequestFailed(ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "Storage backend {Backend} unavailable for {Method} {Path}")]
    public static partial void StorageUnavailable(ILogger logger, string backend, string method, string path, Exception exception);

    [LoggerMessage(EventId = 22, Level = LogLevel.Warning, Message = "Decode memory budget of {Budget} bytes exhausted; {Method} {Path} answered 503")]
    public static partial void DecodeBudgetExhausted(ILogger logger, string method, string path, long budget);

    [LoggerMessage(EventId = 40, Level = LogLevel.Debug, Message = "Collected garbage once the work that made it was over: {Before} -> {After} bytes committed")]
    public static partial void MemoryCollected(ILogger logger, long before, long after);

    [LoggerMessage(EventId = 23, Level = LogLevel.Warning, Message = "Storage engine {Backend} is unavailable at start ({Reason}); its requests get 503 until it answers")]
    public static partial void EngineDownAtStart(ILogger logger, string backend, string reason);

    [LoggerMessage(EventId = 50, Level = LogLevel.Debug, Message = "Built {Count} pre-merged pieces in {Engine}")]
    public static partial void PiecesBuilt(ILogger logger, int count, string engine);

    [LoggerMessage(EventId = 51, Level = LogLevel.Warning, Message = "A pass building {Engine}'s pre-merged pieces failed; the next pass tries again")]
    public static partial void PiecePassFailed(ILogger logger, string engine, Exception exception);

    [LoggerMessage(EventId = 30, Level = LogLevel.Information, Message = "Retention deleted {Count} profiles created before {Cutoff:o}")]
    public static partial void RetentionDeleted(ILogger logger, int count, DateTimeOffset cutoff);

    [LoggerMessage(EventId = 31, Level = LogLevel.Error, Message = "Retention run failed")]
    public static partial void RetentionFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 60, Level = LogLevel.Warning, Message = "Recording rule {Rule} could not be measured; its metrics keep their last values")]
    public static partial void RecordingFailed(ILogger logger, string rule, Exception exception);
}
