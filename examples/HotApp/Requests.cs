using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace HotApp;

/// <summary>
/// Requests that block thread-pool threads on a slow dependency, sync over async: <see cref="Concurrency"/> of
/// them always in flight on the pool, each waiting in <see cref="FetchBlocking"/> on <c>.Result</c> of a call
/// that takes 500 ms (long enough that the spinning <c>.Result</c> does before it blocks stays a small part of the
/// CPU: at 25 ms it took a fifth of it, at 200 ms 3 %). The app measures the time its threads spend there, so that a wall profile
/// can be checked against it. Each request is a trace span, <c>GET /orders/{id}</c>; beside them, requests that
/// await a slow dependency without blocking (<c>GET /orders/{id}/history</c>) hop threads inside their spans.
/// </summary>
public sealed class Requests
{
    public const int Concurrency = 4;

    /// <summary>The app's spans; a listener (the OpenTelemetry SDK in a real service, Program here) makes them real.</summary>
    public static readonly ActivitySource Source = new(SourceName);

    public const string SourceName = "HotApp";

    private static long _blockedTicks;

    /// <summary>Stopwatch ticks spent in <see cref="FetchBlocking"/>, all requests together.</summary>
    public static long BlockedTicks => Interlocked.Read(ref _blockedTicks);

    public async Task RunAsync(CancellationToken stop)
    {
        using var slots = new SemaphoreSlim(Concurrency);
        var running = new List<Task>();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await slots.WaitAsync(stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            running.RemoveAll(t => t.IsCompleted);
            running.Add(Task.Run(() =>
            {
                try
                {
                    using var span = Source.StartActivity("GET /orders/{id}");
                    FetchBlocking();
                }
                finally
                {
                    slots.Release();
                }
            }));
        }

        await Task.WhenAll(running);
    }

    /// <summary>Requests that await a 300 ms dependency, one after another: their continuations run on other pool threads.</summary>
    public static async Task RunHistoryAsync(CancellationToken stop)
    {
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            using var span = Source.StartActivity("GET /orders/{id}/history");
            Render(n);
            await Task.Delay(300, CancellationToken.None);
            Render(n + 1);
        }
    }

    /// <summary>A request's own work, kept tiny so that HotApp's CPU and allocation shares stay what its tests expect.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Render(int n) => HashCode.Combine(n, Environment.CurrentManagedThreadId);

    /// <summary>The sync-over-async call site: a pool thread blocked on <c>.Result</c>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int FetchBlocking()
    {
        var started = Stopwatch.GetTimestamp();
        var value = SlowDependencyAsync().Result;
        Interlocked.Add(ref _blockedTicks, Stopwatch.GetTimestamp() - started);
        return value;
    }

    /// <summary>A dependency that answers in 500 ms; completed on the timer's thread, so no pool thread must be free for it.</summary>
    private static Task<int> SlowDependencyAsync() =>
        Task.Delay(500).ContinueWith(_ => 42, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}
