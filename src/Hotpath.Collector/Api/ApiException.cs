using Hotpath.Pprof;
using Hotpath.Service;
using Hotpath.Storage;

namespace Hotpath.Collector.Api;

/// <summary>A request that fails with a status and the profefe error text; turned into the JSON envelope once, centrally.</summary>
/// <param name="hint">
/// What would work instead, sent beside <c>error</c> as <c>hint</c>: profefe's clients compare the error text
/// itself, so it stays exactly profefe's and the help goes in a field they ignore.
/// </param>
public sealed class ApiException(int status, string message, string? hint = null) : Exception(message)
{
    public int Status { get; } = status;

    public string? Hint { get; } = hint;

    /// <summary>
    /// The refusal a domain error stands for, in the profefe API's words (each protocol's adapter shapes it);
    /// null for a fault of Hotpath's own (a 500). <paramref name="malformedStatus"/>: what a body that is not a
    /// profile gets (profefe 400, Pyroscope's ingest 422).
    /// </summary>
    public static ApiException? Of(Exception e, int malformedStatus = StatusCodes.Status400BadRequest) => e switch
    {
        ApiException refusal => refusal,
        InvalidRequestException invalid => new ApiException(StatusCodes.Status400BadRequest, "bad request: " + invalid.Message, invalid.Hint),
        NothingFoundException nothing => NothingFound(nothing.Detail),
        MalformedProfileException malformed => new ApiException(malformedStatus, $"malformed profile ({malformed.Message})"),
        ProfileTooLargeException large => TooLarge(large),
        StorageUnavailableException unavailable => StorageUnavailable(unavailable),
        DecodeBudgetExhaustedException busy => Busy(busy),
        _ => null,
    };

    public static ApiException UnknownType(string? given) =>
        new(StatusCodes.Status400BadRequest, "bad request: unknown profile type", TypesHint(given));

    /// <summary>The hint beside any refusal of a type: which was given, and which exist.</summary>
    public static string TypesHint(string? given) =>
        $"{(string.IsNullOrEmpty(given) ? "no type given" : $"\"{given}\" is not a type")}; the types are {ProfileTypes.Listed}";

    public static ApiException BadRequest(string detail) => new(StatusCodes.Status400BadRequest, "bad request: " + detail);

    /// <summary>The 503 of an engine that cannot serve, naming it, never its credentials.</summary>
    public static ApiException StorageUnavailable(StorageUnavailableException e) =>
        new(StatusCodes.Status503ServiceUnavailable, $"storage unavailable: {e.Backend}: {e.Message}");

    /// <summary>The 503 of a decode that found the shared decode memory taken: worth a retry shortly.</summary>
    public static ApiException Busy(DecodeBudgetExhaustedException e) =>
        new(StatusCodes.Status503ServiceUnavailable,
            $"busy: profiles being decoded hold the whole decode memory budget of {e.TotalBytes} bytes (Collector:DecodeMemoryBudget); retry shortly");

    /// <summary>The 413 of a profile past a size limit, naming the setting.</summary>
    public static ApiException TooLarge(ProfileTooLargeException e) =>
        new(StatusCodes.Status413RequestEntityTooLarge, e.Limit == ProfileLimit.DecompressedSize
            ? $"profile too large: it inflates past the decompressed size limit of {e.LimitBytes} bytes (Collector:MaxDecompressedSize)"
            : $"profile too large: decoding it takes more than the limit of {e.LimitBytes} bytes of memory (Collector:MaxDecodeMemory)");

    public static ApiException NothingFound(string? detail = null) =>
        new(StatusCodes.Status404NotFound, detail is null ? "nothing found" : "nothing found: " + detail);
}
