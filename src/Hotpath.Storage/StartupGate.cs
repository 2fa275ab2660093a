namespace Hotpath.Storage;

/// <summary>
/// An engine's start-up work (its schema, its bucket), run on first use rather than in a constructor, and
/// run again after a failure: an engine that is down when the collector starts makes its own requests
/// fail with <see cref="StorageUnavailableException"/> until it is back, and stops nothing else. Callers
/// share one attempt at a time; after a failure, the next attempt waits <c>retryAfter</c>, and until
/// then callers get the failure at once.
/// </summary>
public sealed class StartupGate(Func<CancellationToken, Task> start, TimeSpan retryAfter, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _lock = new();
    private Task? _attempt;
    private long _failedAt;

    /// <summary>True once the start-up work has succeeded.</summary>
    public bool IsOpen => _attempt is { IsCompletedSuccessfully: true };

    /// <summary>Completes when the start-up work has succeeded; throws what its last attempt threw otherwise.</summary>
    public Task WaitAsync(CancellationToken cancellationToken)
    {
        var attempt = _attempt;
        if (attempt is { IsCompletedSuccessfully: true })
            return Task.CompletedTask;
        lock (_lock)
        {
            if (_attempt is null || (_attempt.IsCompleted && !_attempt.IsCompletedSuccessfully
                && _time.GetElapsedTime(_failedAt) >= retryAfter))
            {
                _attempt = RunAsync();
            }

            attempt = _attempt;
        }

        return attempt.WaitAsync(cancellationToken);
    }

    private async Task RunAsync()
    {
        try
        {
            // Not the caller's token: one caller giving up must not fail the attempt the others share.
            await start(CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            _failedAt = _time.GetTimestamp();
            throw;
        }
    }
}
