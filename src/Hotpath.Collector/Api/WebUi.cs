namespace Hotpath.Collector.Api;

/// <summary>
/// Serves the web UI's files, embedded in the collector's assembly: no CDN, no build step, nothing to
/// install, and the same files whether the collector runs from source, bin or a container.
/// </summary>
public static class WebUi
{
    private static readonly Dictionary<string, (byte[] Bytes, string ContentType)> Files = Load();

    public static IEndpointRouteBuilder MapWebUi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", (HttpContext context, ILoggerFactory loggers) => Serve(context, "index.html", loggers));
        app.MapGet("/ui/{file}", (HttpContext context, string file, ILoggerFactory loggers) => Serve(context, file, loggers));
        return app;
    }

    private static IResult Serve(HttpContext context, string file, ILoggerFactory loggers)
    {
        if (!Files.TryGetValue(file, out var entry))
            return UnmatchedRoute.Answer(context, loggers);
        context.Response.Headers.CacheControl = "no-cache";
        // The UI only talks to this collector and runs no inline script.
        context.Response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'";
        context.Response.Headers.XContentTypeOptions = "nosniff";
        return Results.Bytes(entry.Bytes, entry.ContentType);
    }

    private static Dictionary<string, (byte[], string)> Load()
    {
        var assembly = typeof(WebUi).Assembly;
        const string Prefix = "Hotpath.Collector.wwwroot.";
        var files = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var file = name[Prefix.Length..];
            var type = Path.GetExtension(file) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            files[file] = (copy.ToArray(), type);
        }

        return files;
    }
}
