using System.Text;
using Hotpath.Collector.Storage;
using Hotpath.Storage;

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
        var probes = engines.Engines.Select(async engine =>
        {
            try
            {
                await engine.ProbeAsync(cancellationToken);
                return (engine.Backend, Error: (string?)null);
            }
            catch (StorageUnavailableException e)
            {
                return (engine.Backend, Error: e.Message);
            }
        });
        var results = await Task.WhenAll(probes);
        if (results.All(r => r.Error is null))
            return Results.Text("ok\n");

        var text = new StringBuilder();
        foreach (var (backend, error) in results)
            text.Append(backend).Append(": ").Append(error is null ? "ok" : "unavailable: " + error).Append('\n');
        return Results.Text(text.ToString(), statusCode: StatusCodes.Status503ServiceUnavailable);
    }
}
