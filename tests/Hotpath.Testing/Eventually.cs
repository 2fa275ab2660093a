using System.Diagnostics;
using Xunit.Sdk;

namespace Hotpath.Testing;

/// <summary>Waiting for something to become true, with a deadline: a test that waits fails, never hangs.</summary>
public static class Eventually
{
    /// <summary>Polls until <paramref name="condition"/> holds; fails with <paramref name="message"/> after <paramref name="timeout"/>.</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan timeout, string message)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await condition())
                return;
            if (clock.Elapsed > timeout)
                throw new XunitException($"{message} (not within {timeout.TotalSeconds:0.#} s)");
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(200, 10 + clock.Elapsed.TotalMilliseconds / 10)));
        }
    }

    /// <summary>The same for a condition that needs no awaiting.</summary>
    public static Task TrueAsync(Func<bool> condition, TimeSpan timeout, string message) =>
        TrueAsync(() => Task.FromResult(condition()), timeout, message);
}
