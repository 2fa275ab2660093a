using Hotpath.Agent;
using Hotpath.Collector.Api;
using Hotpath.Collector.Hosting;
using Hotpath.Collector.Mcp;
using Hotpath.Collector.Storage;
using Hotpath.Pprof;
using Hotpath.Service;
using Hotpath.Service.Ingest;
using Hotpath.Service.Query;
using Hotpath.Service.Query.Changes;
using Hotpath.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Hotpath.Collector;

/// <summary>The composition root: configuration, services and the HTTP pipeline of the collector.</summary>
public static class CollectorApp
{
    /// <param name="time">The collector's clock; null: the system's (tests pass one they move).</param>
    public static WebApplication Build(string[] args, TimeProvider? time = null)
    {
        var translated = ProfefeFlags.Translate(args);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = translated,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddEnvironmentVariables("HOTPATH_");
        // Again after HOTPATH_ variables, so that the command line still wins over them.
        builder.Configuration.AddCommandLine(translated);
        builder.Logging.AddSimpleConsole();
        // The host logs a start that failed with the whole stack trace before RunAsync below says it in one line;
        // a faulted background service is still logged there, at Critical, with its exception.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);

        var services = builder.Services;
        services.AddOptions<CollectorOptions>().Bind(builder.Configuration.GetSection(CollectorOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<AuthOptions>().Bind(builder.Configuration.GetSection(AuthOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptionsValidation>();
        services.AddOptions<RecordingOptions>().Bind(builder.Configuration.GetSection(RecordingOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RecordingOptions>, RecordingOptionsValidation>();
        services.AddHostedService<RecordedMetrics>();
        services.AddSingleton(time ?? TimeProvider.System);

        services.AddStorage(builder.Configuration);

        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<CollectorOptions>>().Value;
            return new DecodeBudget(Math.Max(options.DecodeMemoryBudget, options.MaxDecodeMemory), options.MaxDecodeMemory);
        });
        services.AddSingleton(sp => new ProfileDecoder(sp.GetRequiredService<IOptions<CollectorOptions>>().Value.MaxDecompressedSize,
            sp.GetRequiredService<DecodeBudget>()));
        services.AddSingleton<RawProfilePool>();
        services.AddHostedService<MemoryReliefService>();
        services.AddSingleton<IServiceMetrics>(sp => sp.GetRequiredService<CollectorMetrics>());
        // The services below use the request's tenant's store (scoped).
        services.AddScoped(sp => new MergeService(sp.GetRequiredService<IProfileReader>(), sp.GetRequiredService<ProfileDecoder>(),
            sp.GetRequiredService<IServiceMetrics>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<CollectorOptions>>().Value.MaxProfilesPerMerge));
        services.AddSingleton<CollectorMetrics>();
        services.AddScoped<IngestService>();
        services.AddSingleton<RecentSamples>();
        services.AddScoped<OtlpIngest>();
        services.AddScoped<SelectorQueries>();
        services.AddScoped<ChangeFinder>();
        // MCP for AI assistants: stateless (any collector answers any request), tools run in their request's scope.
        services.AddHttpContextAccessor();
        services.AddMcpServer(mcp => mcp.ServerInfo = new() { Name = "hotpath", Version = ServicesApi.BuildInfo.Current.Version })
            .WithHttpTransport(http => http.Stateless = true)
            .WithTools<ProfileTools>();
        services.AddGrpc();
        services.AddSingleton<Grpc.AspNetCore.Server.Model.IServiceMethodProvider<OtlpProfilesGrpcService>, OtlpProfilesGrpcService.Methods>();
        services.AddOptions<Grpc.AspNetCore.Server.GrpcServiceOptions>().Configure<IOptions<CollectorOptions>>((grpc, options) =>
        {
            grpc.MaxReceiveMessageSize = (int)Math.Min(OtlpApi.MaxRequestSize(options.Value), int.MaxValue);
            // Unknown gRPC methods get the fallback's 404 like any unmatched route, not routes of their own.
            grpc.IgnoreUnknownServices = true;
        });
        var collectorOptions = builder.Configuration.GetSection(CollectorOptions.Section).Get<CollectorOptions>() ?? new CollectorOptions();
        if (collectorOptions.SelfProfile)
            AddSelfProfiling(builder, ListenAddress.Parse(collectorOptions.Address).Port);

        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            var options = context.Configuration.GetSection(CollectorOptions.Section).Get<CollectorOptions>() ?? new CollectorOptions();
            kestrel.Limits.MaxRequestBodySize = options.MaxBodySize;
            // Kestrel answers a request line past its limit itself, with an empty 414 no application code can
            // shape; 64 KiB lets a merge of some 3,000 '+'-joined ids reach the API (8 KiB: 400).
            kestrel.Limits.MaxRequestLineSize = 64 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 96 * 1024;
            kestrel.AddServerHeader = false;
            ListenAddress.Apply(kestrel, options.Address);
            if (!string.IsNullOrWhiteSpace(options.OtlpGrpcAddress))
                ListenAddress.Apply(kestrel, ListenAddress.WithHostOf(options.OtlpGrpcAddress, options.Address), listen => listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2);
        });

        var app = builder.Build();
        app.UseRouting();
        app.UseMiddleware<ApiMiddleware>();
        app.UseMiddleware<GrpcFrameGuard>();
        var api = app.MapGroup("").WithMetadata(ApiAccess.Protected);
        api.MapProfilesApi();
        api.MapPyroscopeApi();
        api.MapQuerierApi();
        api.MapPyroscopeQueryApi();
        api.MapOtlpApi();
        app.MapGrpcService<OtlpProfilesGrpcService>().WithMetadata(ApiAccess.Protected);
        api.MapUiApi();
        api.MapChangesApi();
        app.MapMcp("/mcp").WithMetadata(ApiAccess.ReadsOnly);
        app.MapPost("/mcp/", NotJsonRpc.Answer).WithOrder(NotJsonRpc.Order).WithMetadata(ApiAccess.ReadsOnly);
        api.MapServicesApi();
        app.MapWebUi();
        app.MapHealthApi();
        app.MapMetrics("/metrics", app.Services.GetRequiredService<CollectorMetrics>().Registry);
        // Every path, file-like ones too (the default fallback skips "/x.json"), gets the envelope: an SDK pointed
        // at a route Hotpath does not serve then sees why, and so does the collector's debug log.
        app.MapFallback("{**path}", UnmatchedRoute.Answer);

        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var storage = app.Services.GetRequiredService<IOptions<StorageOptions>>().Value;
            Log.Started(app.Logger, ServicesApi.BuildInfo.Current.Version, string.Join(", ", ListeningOn(app)), storage.Type,
                Path.GetFullPath(storage.DataDirectory), storage.Retention);
        });
        return app;
    }

    /// <summary>
    /// Runs the collector until it is stopped; the process's exit code. A port another process holds is one
    /// line naming the address and its setting, and exit code 1, not a stack trace and an abort.
    /// </summary>
    public static async Task<int> RunAsync(string[] args)
    {
        await using var app = Build(args);
        var options = app.Services.GetRequiredService<IOptions<CollectorOptions>>().Value;
        try
        {
            await app.StartAsync();
        }
        catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
        {
            var grpc = string.IsNullOrWhiteSpace(options.OtlpGrpcAddress) ? null : ListenAddress.WithHostOf(options.OtlpGrpcAddress, options.Address);
            var setting = grpc is not null && ListenAddress.Parse(grpc).Port == PortOf(e.Message)
                ? $"Collector:OtlpGrpcAddress ({grpc}; empty turns the gRPC listener off)"
                : $"Collector:Address ({options.Address})";
            Log.AddressInUse(app.Logger, e.Message, setting);
            // The services that did start stop as at any shutdown, so that none of them reports its cancellation as a fault.
            await app.StopAsync();
            return 1;
        }

        await app.WaitForShutdownAsync();
        return 0;
    }

    // Kestrel's message names the address: "Failed to bind to address http://[::]:4317: address already in use."
    private static int PortOf(string message)
    {
        var match = System.Text.RegularExpressions.Regex.Match(message, @"https?://\S*?:(\d+)");
        return match.Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : -1;
    }

    /// <summary>The collector's own agent, as profefe's collector runs its own: defaults that point it at itself.</summary>
    private static void AddSelfProfiling(WebApplicationBuilder builder, int port)
    {
        builder.Services.AddHotpathAgent(o =>
        {
            o.Service = "hotpath-collector";
            o.CollectorAddress = $"http://127.0.0.1:{port}";
        });
        // Configured settings win over those defaults.
        builder.Services.Configure<HotpathAgentOptions>(builder.Configuration.GetSection(HotpathAgentOptions.Section));
    }

    /// <summary>The addresses Kestrel actually bound (port 0 resolved), once started.</summary>
    public static IReadOnlyList<string> ListeningOn(WebApplication app) =>
        [.. app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];
}
