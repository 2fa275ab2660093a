namespace Hotpath.Collector.Api;

/// <summary>A request that fails with a status and the profefe error text; turned into the JSON envelope once, centrally.</summary>
public sealed class ApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    public static ApiException BadRequest(string detail) => new(StatusCodes.Status400BadRequest, "bad request: " + detail);

    public static ApiException NothingFound(string? detail = null) =>
        new(StatusCodes.Status404NotFound, detail is null ? "nothing found" : "nothing found: " + detail);
}
