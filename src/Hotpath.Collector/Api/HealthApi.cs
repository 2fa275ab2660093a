using System.Text;
using Hotpath.Collector.Storage;

namespace Hotpath.Collector.Api;

/// <summary>/healthz: 200 "ok" when every storage engine answers, else 503 naming each engine that does not.</summary>
public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", CheckAsync);
        return app;
    }

    private static async Task<IResult> CheckAsync(StorageEngines engines, CancellationToken cancellationToken)
    {
        var results = await engines.ProbeAsync(cancellationToken);
        if (results.All(r => r.Error is null))
            return Results.Text("ok\n");

        var text = new StringBuilder();
        foreach (var (backend, error) in results)
            text.Append(backend).Append(": ").Append(error is null ? "ok" : "unavailable: " + error).Append('\n');
        return Results.Text(text.ToString(), statusCode: StatusCodes.Status503ServiceUnavailable);
    }
}
