using Hotpath.Pprof;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hotpath.Agent;

/// <summary>Settings of the in-process agent (section "Hotpath:Agent" when bound from configuration).</summary>
public sealed class HotpathAgentOptions
{
    public const string Section = "Hotpath:Agent";

    public string CollectorAddress { get; set; } = "http://localhost:10100";

    public string Service { get; set; } = "";

    public string? InstanceId { get; set; }

    public Dictionary<string, string> Labels { get; } = [];

    public string? Token { get; set; }

    /// <summary>A CPU profile every interval...</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>...recorded for this long: EventPipe sampling costs the app while it runs, so not all the time.</summary>
    public TimeSpan CpuWindow { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Random delay added to each cycle, so that a fleet does not profile in step.</summary>
    public TimeSpan MaxJitter { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// The in-process agent: each cycle records a CPU window of this process and queues it for upload; it never
/// blocks or crashes the host (failures are logged and the next cycle tries again).
/// </summary>
public sealed partial class HotpathAgent(IOptions<HotpathAgentOptions> options, ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger<HotpathAgent>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        await using var uploader = new ProfileUploader(new UploaderOptions
        {
            Collector = new Uri(settings.CollectorAddress),
            Service = settings.Service,
            InstanceId = settings.InstanceId ?? $"{Environment.MachineName}-{Environment.ProcessId}",
            Labels = settings.Labels,
            Token = settings.Token,
        }, loggers.CreateLogger<ProfileUploader>());

        while (!stoppingToken.IsCancellationRequested)
        {
            var started = DateTimeOffset.UtcNow;
            try
            {
                var profile = await CpuSession.RecordAsync(Environment.ProcessId, settings.CpuWindow, stoppingToken);
                if (profile.Sample.Count > 0)
                    uploader.Enqueue("cpu", ProfileEncoder.ToGzipBytes(profile));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Log.CycleFailed(_logger, e);
            }

            var jitter = settings.MaxJitter > TimeSpan.Zero ? TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * settings.MaxJitter.TotalMilliseconds) : TimeSpan.Zero;
            var wait = settings.Interval - (DateTimeOffset.UtcNow - started) + jitter;
            if (wait > TimeSpan.Zero)
                await Task.Delay(wait, stoppingToken).ContinueWith(static _ => { }, TaskScheduler.Default);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 210, Level = LogLevel.Warning, Message = "Hotpath agent cycle failed; trying again next cycle")]
        public static partial void CycleFailed(ILogger logger, Exception exception);
    }
}

public static class HotpathAgentServiceCollectionExtensions
{
    /// <summary>
    /// Profiles this process continuously and pushes to a Hotpath collector:
    /// <c>builder.Services.AddHotpathAgent(o => { o.CollectorAddress = "http://localhost:10100"; o.Service = "checkout"; o.Labels["version"] = "1.4"; });</c>
    /// Settings also come from the "Hotpath:Agent" configuration section when one is given.
    /// </summary>
    public static IServiceCollection AddHotpathAgent(this IServiceCollection services, Action<HotpathAgentOptions>? configure = null, IConfiguration? configuration = null)
    {
        var options = services.AddOptions<HotpathAgentOptions>();
        if (configuration is not null)
            options.Bind(configuration.GetSection(HotpathAgentOptions.Section));
        if (configure is not null)
            options.Configure(configure);
        options.Validate(o => o.Service.Length > 0, "Hotpath:Agent:Service is required")
            .Validate(o => Uri.TryCreate(o.CollectorAddress, UriKind.Absolute, out _), "Hotpath:Agent:CollectorAddress must be an absolute URL")
            .Validate(o => o.CpuWindow > TimeSpan.Zero && o.Interval >= o.CpuWindow, "Hotpath:Agent:Interval must be at least CpuWindow")
            .ValidateOnStart();
        services.AddHostedService<HotpathAgent>();
        return services;
    }
}
