using System.Diagnostics;
using System.Globalization;

namespace Hotpath.Testing;

/// <summary>
/// The ClickHouse server the tests use: the one test.sh started (HOTPATH_TEST_CLICKHOUSE_URL), or else
/// Debian's clickhouse-server started here on free 127.0.0.1 ports with its files in a temporary folder.
/// </summary>
public sealed class ClickHouseServer : IDisposable
{
    private static readonly Lazy<ClickHouseServer> Shared = new(Start);
    private readonly Process? _process;
    private readonly string? _directory;

    private ClickHouseServer(string url, Process? process, string? directory)
    {
        Url = url;
        _process = process;
        _directory = directory;
    }

    public string Url { get; }

    public static ClickHouseServer Instance => Shared.Value;

    /// <summary>Settings for a store in a fresh database.</summary>
    public Hotpath.Storage.ClickHouse.ClickHouseStoreOptions NewDatabase() => new() { Url = Url, Database = "t_" + Guid.NewGuid().ToString("N")[..16] };

    private static ClickHouseServer Start()
    {
        if (Environment.GetEnvironmentVariable("HOTPATH_TEST_CLICKHOUSE_URL") is { Length: > 0 } url)
            return new ClickHouseServer(url, null, null);
        var server = StartOnPort(CollectorProcess.FreePort());
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Dispose();
        return server;
    }

    /// <summary>A server of its own; with <paramref name="directory"/>, on files kept from an earlier one (a restart).</summary>
    public static ClickHouseServer StartOnPort(int httpPort, string? directory = null)
    {
        if (!File.Exists("/usr/bin/clickhouse-server") && !File.Exists("/usr/sbin/clickhouse-server"))
            throw new InvalidOperationException("clickhouse-server is not installed: run ./test.sh once (it installs Debian's clickhouse-server)");
        var d = directory ?? Path.Combine(Path.GetTempPath(), "hotpath-clickhouse-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(d);
        var start = new ProcessStartInfo("clickhouse-server") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        string Port() => CollectorProcess.FreePort().ToString(CultureInfo.InvariantCulture);
        foreach (var arg in (string[])["--config-file=/etc/clickhouse-server/config.xml", "--", $"--path={d}/data/", $"--tmp_path={d}/tmp/",
                     $"--user_files_path={d}/uf/", $"--format_schema_path={d}/fs/", $"--http_port={httpPort}", $"--tcp_port={Port()}",
                     $"--interserver_http_port={Port()}", "--listen_host=127.0.0.1", $"--logger.log={d}/log", $"--logger.errorlog={d}/err"])
            start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        LocalPort.WaitForListener(httpPort, process, "clickhouse-server (files in " + d + ")", TimeSpan.FromSeconds(20));
        return new ClickHouseServer($"http://127.0.0.1:{httpPort}", process, d);
    }

    /// <summary>Where the server keeps its files.</summary>
    public string? Directory => _directory;

    /// <summary>Kills the server, keeping its files for a restart.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }
    }

    public void Dispose()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process?.Dispose();
        if (_directory is not null && System.IO.Directory.Exists(_directory))
            System.IO.Directory.Delete(_directory, recursive: true);
    }
}
