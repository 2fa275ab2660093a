using Hotpath.Agent.Spans;
using Hotpath.Pprof;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Hotpath.Agent;

/// <summary>
/// The in-process agent: each cycle records a window of this process (cpu, heap, mutex and exception profiles
/// by default) and queues the profiles for upload; it never blocks or crashes the host (failures are logged and the next
/// cycle tries again).
/// </summary>
public sealed partial class HotpathAgent(IOptions<HotpathAgentOptions> options, ILoggerFactory loggers, TimeProvider? time = null) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger<HotpathAgent>();

    // The clock of the windows and the cycle: the host's TimeProvider when it registers one.
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>
    /// For a console app without a generic host: starts profiling this process now; dispose to stop.
    /// <c>await using var agent = await HotpathAgent.StartAsync(new HotpathAgentOptions { Service = "checkout" });</c>
    /// </summary>
    /// <exception cref="OptionsValidationException">The options cannot work; the message names the setting.</exception>
    public static async Task<IAsyncDisposable> StartAsync(HotpathAgentOptions options, ILoggerFactory? loggers = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var result = new HotpathAgentOptionsValidator().Validate(Options.DefaultName, options);
        if (result.Failed)
            throw new OptionsValidationException(Options.DefaultName, typeof(HotpathAgentOptions), result.Failures);
        var agent = new HotpathAgent(Options.Create(options), loggers ?? NullLoggerFactory.Instance);
        await agent.StartAsync(cancellationToken);
        return new Running(agent);
    }

    private sealed class Running(HotpathAgent agent) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await agent.StopAsync(CancellationToken.None);
            agent.Dispose();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        await using var uploader = new ProfileUploader(new UploaderOptions
        {
            Collector = new Uri(settings.CollectorAddress),
            Service = settings.Service,
            InstanceId = settings.InstanceId ?? UploaderOptions.DefaultInstanceId(Environment.ProcessId),
            Labels = AppVersion.AddTo(settings.Labels, AppVersion.OfThisProcess()),
            Token = settings.Token,
            Tenant = settings.Tenant,
        }, loggers.CreateLogger<ProfileUploader>());

        using var spans = settings.Spans && OperatingSystem.IsLinux() ? new SpanTimeline() : null;
        while (!stoppingToken.IsCancellationRequested)
        {
            var started = _time.GetUtcNow();
            try
            {
                foreach (var recorded in await ProfileSession.RecordAsync(Environment.ProcessId, settings.Types, settings.Window, allocationTicksOnly: false, stoppingToken, _time, spans))
                    uploader.Enqueue(recorded.Type, ProfileEncoder.ToGzipBytes(recorded.Profile));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (ServerNotAvailableException e)
            {
                // The runtime's diagnostic port is off: no later cycle can do better.
                Log.DiagnosticsDisabled(_logger, e.Message);
                return;
            }
            catch (Exception e)
            {
                Log.CycleFailed(_logger, e);
            }

            var jitter = settings.MinJitter + (settings.MaxJitter - settings.MinJitter) * Random.Shared.NextDouble();
            var wait = settings.Interval - (_time.GetUtcNow() - started) + jitter;
            if (wait > TimeSpan.Zero)
                await Task.Delay(wait, _time, stoppingToken).ContinueWith(static _ => { }, TaskScheduler.Default);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 210, Level = LogLevel.Warning, Message = "Hotpath agent cycle failed; trying again next cycle")]
        public static partial void CycleFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 211, Level = LogLevel.Error, Message = "Hotpath agent stopped: this process's diagnostic port is not available (DOTNET_EnableDiagnostics=0?): {Reason}")]
        public static partial void DiagnosticsDisabled(ILogger logger, string reason);
    }
}

