using System.Diagnostics;

namespace Hotpath.Testing;

/// <summary>
/// A real Go service serving net/http/pprof (GoPprofServer/main.go, built with the machine's Go toolchain):
/// steady CPU, lock contention, channel blocking and allocations, as the scraper meets them in production.
/// </summary>
public sealed class GoPprofServer : IAsyncDisposable
{
    private static readonly SemaphoreSlim BuildLock = new(1, 1);
    private static string? s_binary;
    private readonly Process _process;

    private GoPprofServer(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public static async Task<GoPprofServer> StartAsync()
    {
        var binary = await BuildAsync();
        var process = Process.Start(new ProcessStartInfo(binary, "-addr 127.0.0.1:0") { UseShellExecute = false, RedirectStandardOutput = true })!;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var line = await process.StandardOutput.ReadLineAsync(deadline.Token) ?? throw new InvalidOperationException("the Go pprof server exited at start");
        return new GoPprofServer(process, new Uri("http://" + line["listening on ".Length..] + "/"));
    }

    private static async Task<string> BuildAsync()
    {
        await BuildLock.WaitAsync();
        try
        {
            if (s_binary is not null)
                return s_binary;
            var output = Path.Combine(Path.GetTempPath(), "hotpath-go-pprof-" + Environment.ProcessId);
            var start = new ProcessStartInfo("go") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var arg in (string[])["build", "-o", output, Path.Combine(TestData.ProjectRoot, "tests", "Hotpath.Testing.Servers", "GoPprofServer", "main.go")])
                start.ArgumentList.Add(arg);
            using var build = Process.Start(start) ?? throw new InvalidOperationException("go is not installed (./test.sh installs golang-go)");
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            var errors = await build.StandardError.ReadToEndAsync(deadline.Token);
            await build.WaitForExitAsync(deadline.Token);
            if (build.ExitCode != 0)
                throw new InvalidOperationException("go build of the pprof server failed: " + errors);
            return s_binary = output;
        }
        finally
        {
            BuildLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
            _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
