using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Hotpath.Testing;

/// <summary>The collector as a separate OS process, for tests that kill it or signal it.</summary>
public sealed class CollectorProcess : IDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _output = new();

    private CollectorProcess(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>What the collector printed so far, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_output)
            _output.AppendLine(line);
    }

    public Uri BaseAddress { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The built collector next to this test build (same configuration).</summary>
    public static string CollectorDll =>
        Path.Combine(TestData.ProjectRoot, "src", "Hotpath.Collector", "bin", TestData.Configuration, "net10.0", "Hotpath.Collector.dll");

    public static async Task<CollectorProcess> StartAsync(string dataDirectory, int? port = null, params string[] settings)
    {
        var chosen = port ?? FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (TestClock.Ahead != TimeSpan.Zero)
        {
            // The tests' clock, moved ahead, is the collector's too: libfaketime (Debian's faketime, which test.sh
            // installs) shifts the process's wall clock, preloaded into the process itself so that signals reach it.
            start.Environment["LD_PRELOAD"] = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
            start.Environment["FAKETIME"] = $"+{(long)TestClock.Ahead.TotalSeconds}";
        }

        foreach (var arg in (string[])[CollectorDll, $"--Collector:Address=127.0.0.1:{chosen}", "--Collector:OtlpGrpcAddress=", $"--Storage:DataDirectory={dataDirectory}", .. settings])
            start.ArgumentList.Add(arg);

        var process = Process.Start(start)!;
        var collector = new CollectorProcess(process, new Uri($"http://127.0.0.1:{chosen}"));
        await collector.WaitHealthyAsync(TimeSpan.FromSeconds(30));
        return collector;
    }

    private async Task WaitHealthyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"collector exited with {_process.ExitCode} before it was healthy:\n{Output}");
            try
            {
                using var response = await http.GetAsync("/healthz");
                if (response.StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // not answering yet
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("collector not healthy within " + timeout);
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM: the graceful shutdown path; waits for the exit.</summary>
    public async Task TerminateAsync(TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            await kill.WaitForExitAsync();
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            Kill();
        _process.Dispose();
    }
}
