namespace Hotpath.Collector.Api;

/// <summary>
/// The 404 of a request no route answers, anywhere: the envelope naming the route, and a debug log line, so
/// that a client pointed at a path Hotpath does not serve (a Pyroscope SDK's /ingest) sees why on both sides.
/// </summary>
public static partial class UnmatchedRoute
{
    public static IResult Answer(HttpContext context, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(loggers);
        var request = context.Request;
        var route = $"{request.Method} {request.Path}";
        Log.Unmatched(loggers.CreateLogger(typeof(UnmatchedRoute)), route);
        // Under /api/0/ the text is profefe's, exactly (its clients compare it); the hint names the route either way.
        return request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase)
            ? ApiResults.Error(StatusCodes.Status404NotFound, "nothing found", $"no API route answers {route}")
            : ApiResults.Error(StatusCodes.Status404NotFound, $"nothing found: no route answers {route}", "the API is under /api/0/ (see the README), the web UI at /");
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 11, Level = LogLevel.Debug, Message = "No route answers {Route}: 404")]
        public static partial void Unmatched(ILogger logger, string route);
    }
}
