using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace HotApp;

/// <summary>
/// Requests that block thread-pool threads on a slow dependency, sync over async: <see cref="Concurrency"/> of
/// them always in flight on the pool, each waiting in <see cref="FetchBlocking"/> on <c>.Result</c> of a call
/// that takes 500 ms (long enough that the spinning <c>.Result</c> does before it blocks stays a small part of the
/// CPU: at 25 ms it took a fifth of it, at 200 ms 3 %). The app measures the time its threads spend there, so that a wall profile
/// can be checked against it.
/// </summary>
public sealed class Requests
{
    public const int Concurrency = 4;

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
