using System.Reflection;
using Hotpath.Pprof;
using Hotpath.Storage;

namespace Hotpath.Collector.Api;

/// <summary>/api/0/services, /api/0/version, and the JSON 404 for any other path under /api/.</summary>
public static class ServicesApi
{
    public static IEndpointRouteBuilder MapServicesApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/0/services", async (IProfileReader reader, CancellationToken cancellationToken) =>
        {
            var services = await reader.ListServicesAsync(cancellationToken);
            if (services.Count == 0)
                throw ApiException.NothingFound();
            return ApiResults.Ok(json =>
            {
                json.WriteStartArray();
                foreach (var service in services)
                    json.WriteStringValue(service);
                json.WriteEndArray();
            });
        });

        app.MapGet("/api/0/version", () => ApiResults.Ok(json =>
        {
            json.WriteStartObject();
            json.WriteString("version", BuildInfo.Current.Version);
            json.WriteString("commit", BuildInfo.Current.Commit);
            json.WriteString("build_time", BuildInfo.Current.BuildTime);
            json.WriteEndObject();
        }));

        app.Map("/api/{**rest}", UnmatchedRoute.Answer);
        return app;
    }

    /// <summary>Version, commit and build time of this collector.</summary>
    public sealed record BuildInfo(string Version, string Commit, string BuildTime)
    {
        /// <summary>Read once from the assembly.</summary>
        public static BuildInfo Current { get; } = Read();

        private static BuildInfo Read()
        {
            var assembly = typeof(ServicesApi).Assembly;
            var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
            var commit = assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "Commit")?.Value ?? "unknown";
            // The assembly's own write time is when it was built; embedding the time would defeat incremental builds.
            var built = string.IsNullOrEmpty(assembly.Location) ? DateTime.UtcNow : File.GetLastWriteTimeUtc(assembly.Location);
            return new BuildInfo(version.Split('+')[0], commit, ProfileTime.FormatSeconds(new DateTimeOffset(built, TimeSpan.Zero)));
        }
    }
}
