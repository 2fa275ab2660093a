using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Channels;
using Hotpath.Pprof;
using Microsoft.Extensions.Logging;

namespace Hotpath.Agent;

/// <summary>Where and how the agent uploads.</summary>
public sealed record UploaderOptions
{
    public required Uri Collector { get; init; }

    public required string Service { get; init; }

    /// <summary>Host name and process id by default.</summary>
    public string InstanceId { get; init; } = DefaultInstanceId(Environment.ProcessId);

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public string? Token { get; init; }

    /// <summary>The collector's tenant the profiles belong to (X-Scope-OrgID); null: the default tenant.</summary>
    public string? Tenant { get; init; }

    /// <summary>Profiles kept while the collector is unreachable; past it the oldest is dropped, with a log line.</summary>
    public int MaxQueued { get; init; } = 32;

    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromMinutes(2);

    public int MaxAttempts { get; init; } = 10;

    /// <summary>How long disposing waits for what is still queued before dropping it.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Called on the upload loop with the type and the stored id of each profile the collector acknowledged.</summary>
    public Action<string, string>? Stored { get; init; }

    /// <summary>The instance id profiles of a process carry unless told otherwise: "host-pid".</summary>
    public static string DefaultInstanceId(int processId) => $"{Environment.MachineName}-{processId}";
}

/// <summary>
/// Pushes profiles to the collector from a background loop, so the host application never waits on it or
/// sees its failures: retries with exponential backoff (a 4xx is final), a bounded queue that drops the
/// oldest profile when the collector stays away, never unbounded memory.
/// </summary>
public sealed partial class ProfileUploader : IAsyncDisposable
{
    private readonly UploaderOptions _options;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly Channel<Upload> _queue;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private long _uploaded;
    private long _dropped;

    public ProfileUploader(UploaderOptions options, ILogger<ProfileUploader> logger, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = logger;
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.BaseAddress = options.Collector;
        _http.Timeout = TimeSpan.FromSeconds(30);
        if (!string.IsNullOrEmpty(options.Token))
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
        if (!string.IsNullOrEmpty(options.Tenant))
            _http.DefaultRequestHeaders.Add("X-Scope-OrgID", options.Tenant);
        _queue = Channel.CreateBounded<Upload>(
            new BoundedChannelOptions(options.MaxQueued) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            dropped =>
            {
                Interlocked.Increment(ref _dropped);
                Log.Dropped(_logger, dropped.Type.ToWire(), options.MaxQueued);
            });
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Profiles the collector acknowledged.</summary>
    public long Uploaded => Interlocked.Read(ref _uploaded);

    /// <summary>Profiles given up on: dropped from a full queue, refused (4xx), or out of attempts.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Queues a gzipped pprof of the given type; returns at once and never throws.</summary>
    public void Enqueue(ProfileType type, byte[] gzippedProfile) => _queue.Writer.TryWrite(new Upload(type, gzippedProfile));

    private async Task RunAsync()
    {
        try
        {
            await foreach (var upload in _queue.Reader.ReadAllAsync(_stopping.Token))
                await SendAsync(upload);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Stopped after the grace period: what is still queued is dropped with the process.
        }
    }

    private async Task SendAsync(Upload upload)
    {
        var query = $"/api/0/profiles?service={Uri.EscapeDataString(_options.Service)}&type={upload.Type.ToWire()}&instance_id={Uri.EscapeDataString(_options.InstanceId)}";
        if (_options.Labels.Count > 0)
        {
            var labels = string.Join(",", _options.Labels.Select(l => Uri.EscapeDataString(l.Key) + "=" + Uri.EscapeDataString(l.Value)));
            query += "&labels=" + Uri.EscapeDataString(labels);
        }

        var backoff = _options.InitialBackoff;
        for (var attempt = 1; ; attempt++)
        {
            string failure;
            try
            {
                using var content = new ByteArrayContent(upload.Body);
                using var response = await _http.PostAsync(query, content, _stopping.Token);
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref _uploaded);
                    if (_options.Stored is { } stored)
                        stored(upload.Type.ToWire(), await StoredIdAsync(response));
                    return;
                }

                failure = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(_stopping.Token)}";
                if ((int)response.StatusCode is >= 400 and < 500 && response.StatusCode != HttpStatusCode.TooManyRequests)
                {
                    // The collector refuses this profile; sending it again would be refused again.
                    Interlocked.Increment(ref _dropped);
                    Log.Refused(_logger, upload.Type.ToWire(), failure);
                    return;
                }
            }
            catch (HttpRequestException e)
            {
                failure = e.Message;
            }
            catch (TaskCanceledException e) when (!_stopping.IsCancellationRequested)
            {
                failure = "timed out: " + e.Message;
            }

            if (attempt >= _options.MaxAttempts)
            {
                Interlocked.Increment(ref _dropped);
                Log.GaveUp(_logger, upload.Type.ToWire(), attempt, failure);
                return;
            }

            Log.Retrying(_logger, upload.Type.ToWire(), attempt, backoff, failure);
            await Task.Delay(backoff, _stopping.Token);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxBackoff.Ticks));
        }
    }

    private async Task<string> StoredIdAsync(HttpResponseMessage response)
    {
        try
        {
            using var reply = JsonDocument.Parse(await response.Content.ReadAsStringAsync(_stopping.Token));
            return reply.RootElement.GetProperty("body").GetProperty("id").GetString() ?? "";
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return ""; // acknowledged all the same; only the id is unknown
        }
    }

    /// <summary>Sends what is still queued for up to <see cref="UploaderOptions.DrainTimeout"/> (never holding the host's shutdown longer), then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        try
        {
            await _loop.WaitAsync(_options.DrainTimeout);
        }
        catch (TimeoutException)
        {
            await _stopping.CancelAsync();
            await _loop;
        }

        _http.Dispose();
        _stopping.Dispose();
    }

    private sealed record Upload(ProfileType Type, byte[] Body);

    private static partial class Log
    {
        [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "Hotpath agent queue full ({Max} profiles): dropped the oldest {Type} profile")]
        public static partial void Dropped(ILogger logger, string type, int max);

        [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "Collector refused a {Type} profile, not retrying: {Failure}")]
        public static partial void Refused(ILogger logger, string type, string failure);

        [LoggerMessage(EventId = 202, Level = LogLevel.Information, Message = "Upload of a {Type} profile failed (attempt {Attempt}), retrying in {Backoff}: {Failure}")]
        public static partial void Retrying(ILogger logger, string type, int attempt, TimeSpan backoff, string failure);

        [LoggerMessage(EventId = 203, Level = LogLevel.Warning, Message = "Gave up on a {Type} profile after {Attempts} attempts: {Failure}")]
        public static partial void GaveUp(ILogger logger, string type, int attempts, string failure);
    }
}
