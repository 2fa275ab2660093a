using System.Diagnostics;

namespace Hotpath.Testing;

/// <summary>
/// The S3-compatible server the tests use: the one test.sh started (HOTPATH_TEST_S3_URL), or else s3rver
/// from .test-tools (which test.sh installs with npm) started here on a free 127.0.0.1 port.
/// Credentials are s3rver's fixed S3RVER/S3RVER, given to the AWS SDK through its standard variables.
/// </summary>
public sealed class S3Server : IDisposable
{
    private static readonly Lazy<S3Server> Shared = new(Start);
    private readonly Process? _process;
    private readonly string? _directory;

    private S3Server(string url, Process? process, string? directory)
    {
        Url = url;
        _process = process;
        _directory = directory;
    }

    public string Url { get; }

    public static S3Server Instance => Shared.Value;

    /// <summary>Settings for a store in its own fresh bucket.</summary>
    public Hotpath.Storage.S3.S3StoreOptions NewBucket(string prefix = "hotpath/") => new()
    {
        Bucket = "t-" + Guid.NewGuid().ToString("N")[..20],
        Prefix = prefix,
        ServiceUrl = Url,
        ForcePathStyle = true,
    };

    private static S3Server Start()
    {
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "S3RVER");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "S3RVER");
        if (Environment.GetEnvironmentVariable("HOTPATH_TEST_S3_URL") is { Length: > 0 } url)
            return new S3Server(url, null, null);

        var server = StartOnPort(CollectorProcess.FreePort());
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Dispose();
        return server;
    }

    /// <summary>A server of its own on that port, for tests that start and stop it.</summary>
    public static S3Server StartOnPort(int port)
    {
        var script = Path.Combine(TestData.ProjectRoot, ".test-tools", "node_modules", "s3rver", "bin", "s3rver.js");
        if (!File.Exists(script))
            throw new InvalidOperationException($"s3rver is not installed at {script}: run ./test.sh once (it installs it with npm)");
        var directory = Path.Combine(Path.GetTempPath(), "hotpath-s3rver-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var start = new ProcessStartInfo("node") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in (string[])["--openssl-legacy-provider", script, "-d", directory, "-a", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--no-vhost-buckets", "--silent"])
            start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        LocalPort.WaitForListener(port, process, "s3rver", TimeSpan.FromSeconds(15));
        return new S3Server($"http://127.0.0.1:{port}", process, directory);
    }

    public void Dispose()
    {
        if (_process is { HasExited: false })
            _process.Kill();
        _process?.Dispose();
        if (_directory is not null && Directory.Exists(_directory))
            Directory.Delete(_directory, recursive: true);
    }
}
