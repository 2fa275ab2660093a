using System.Text.RegularExpressions;
using Hotpath.Pprof;
using Hotpath.Service.Query;
using Hotpath.Storage;
using Hotpath.Storage.Pieces;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Hotpath.Collector.Hosting;

/// <summary>
/// The recording rules' metrics (<see cref="RecordingOptions"/>): when /metrics is scraped, each rule's last
/// minute that ended at least <see cref="RecordingOptions.Delay"/> ago is measured from the pieces (once per minute,
/// however often Prometheus asks) and exported as <c>hotpath_recorded_value</c>, <c>_share</c>, <c>_profiles</c> and
/// <c>_minute_seconds</c>, each with the rule's name as <c>rule</c>. A hosted service only to hook the scrape at start.
/// </summary>
public sealed class RecordedMetrics(CollectorMetrics metrics, IOptions<RecordingOptions> options, IServiceScopeFactory scopes, TimeProvider time,
    ILogger<RecordedMetrics> logger) : IHostedService
{
    private readonly SemaphoreSlim _measuring = new(1, 1);
    private readonly Dictionary<string, long> _measured = new(StringComparer.Ordinal);
    private Gauge? _value;
    private Gauge? _share;
    private Gauge? _profiles;
    private Gauge? _minute;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Rules.Count == 0)
            return Task.CompletedTask;
        var factory = Metrics.WithCustomRegistry(metrics.Registry);
        var labels = new GaugeConfiguration { LabelNames = ["rule"] };
        _value = factory.CreateGauge("hotpath_recorded_value", "A recording rule's value over its last measured minute, in its sample type's unit (CPU: nanoseconds).", labels);
        _share = factory.CreateGauge("hotpath_recorded_share", "A recording rule's value as a share of its selection's whole profile, 0 to 1.", labels);
        _profiles = factory.CreateGauge("hotpath_recorded_profiles", "Profiles in a recording rule's last measured minute (0: nothing was measured).", labels);
        _minute = factory.CreateGauge("hotpath_recorded_minute_seconds", "The start of a recording rule's last measured minute, Unix seconds.", labels);
        metrics.Registry.AddBeforeCollectCallback(MeasureAsync);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task MeasureAsync(CancellationToken cancellationToken)
    {
        const long Minute = 60_000_000_000;
        var end = BucketGrid.Floor(BucketGrid.Minute, UnixNanos.From(time.GetUtcNow() - options.Value.Delay));
        await _measuring.WaitAsync(cancellationToken);
        try
        {
            foreach (var rule in options.Value.Rules)
            {
                if (_measured.GetValueOrDefault(rule.Name, long.MinValue) == end)
                    continue;
                try
                {
                    var recorded = await MeasureAsync(rule, end - Minute, end - 1, cancellationToken);
                    _value!.WithLabels(rule.Name).Set(recorded.Value);
                    _share!.WithLabels(rule.Name).Set(recorded.Share);
                    _profiles!.WithLabels(rule.Name).Set(recorded.Profiles);
                    _minute!.WithLabels(rule.Name).Set((end - Minute) / 1e9);
                    _measured[rule.Name] = end;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.RecordingFailed(logger, rule.Name, e);
                }
            }
        }
        finally
        {
            _measuring.Release();
        }
    }

    private async Task<RecordedValue> MeasureAsync(RecordingRule rule, long from, long to, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        if (rule.Tenant.Length > 0)
            scope.ServiceProvider.GetRequiredService<RequestTenant>().Name = rule.Tenant;
        var selector = LabelSelector.Parse(rule.Selector);
        ProfileTypes.TryParse(rule.Type, out var type);
        var query = new ProfileQuery(rule.Service, type, from, to, selector.RequiredLabels, Filter: selector.Filter);
        var function = rule.Function.Length == 0 ? null : new Regex($"^(?:{rule.Function})$", RegexOptions.None, TimeSpan.FromSeconds(1));
        return await RecordedValue.ReadAsync(scope.ServiceProvider.GetRequiredService<MergeService>(), query,
            rule.SampleType.Length == 0 ? null : rule.SampleType, function, rule.Self, cancellationToken);
    }
}
