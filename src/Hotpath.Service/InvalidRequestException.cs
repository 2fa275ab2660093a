namespace Hotpath.Service;

/// <summary>A request the services cannot carry out as asked (a bad parameter, too much to merge); each protocol says it in its own shape.</summary>
/// <param name="detail">What is wrong, as the profefe API words it after "bad request: ".</param>
/// <param name="hint">What would work instead, when there is something to say.</param>
public sealed class InvalidRequestException(string detail, string? hint = null) : Exception(detail)
{
    public string? Hint { get; } = hint;
}
