using System.Net;
using System.Net.Sockets;
using Hotpath.Testing;

namespace Hotpath.EndToEnd.Tests;

/// <summary>Where the collector listens, and what it says when it cannot.</summary>
public sealed class ListenerTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("hotpath-listeners-").FullName;

    [Fact]
    public async Task The_grpc_listener_takes_the_host_of_the_collector_address_unless_its_own_names_one()
    {
        var grpcPort = CollectorProcess.FreePort();
        using var collector = await CollectorProcess.StartAsync(_data, null, $"--Collector:OtlpGrpcAddress=:{grpcPort}");

        await Eventually.TrueAsync(() => collector.Output.Contains($"http://127.0.0.1:{grpcPort}", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), "the collector did not say it listens on loopback for gRPC:\n" + collector.Output);
        Assert.DoesNotContain($"[::]:{grpcPort}", collector.Output, StringComparison.Ordinal);
        using var loopback = new TcpClient();
        await loopback.ConnectAsync(IPAddress.Loopback, grpcPort);
    }

    [Theory]
    [InlineData("grpc", "Collector:OtlpGrpcAddress")]
    [InlineData("http", "Collector:Address")]
    public async Task A_port_another_process_holds_is_one_line_naming_the_setting_and_exit_code_1(string taken, string setting)
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var held = ((IPEndPoint)holder.LocalEndpoint).Port;
        var http = taken == "http" ? held : CollectorProcess.FreePort();
        var grpc = taken == "grpc" ? held : CollectorProcess.FreePort();

        var run = await ToolRun.RunAsync("dotnet",
            [CollectorProcess.CollectorDll, $"--Collector:Address=127.0.0.1:{http}", $"--Collector:OtlpGrpcAddress=127.0.0.1:{grpc}", $"--Storage:DataDirectory={_data}"],
            _data, timeout: TimeSpan.FromSeconds(60));

        var printed = run.Output + run.Error;
        Assert.Equal(1, run.ExitCode);
        var lines = printed.Split('\n').Where(l => l.Contains("address already in use", StringComparison.OrdinalIgnoreCase)).ToList();
        var line = Assert.Single(lines);
        Assert.Contains($"127.0.0.1:{held}", line, StringComparison.Ordinal);
        Assert.Contains(setting, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", printed, StringComparison.Ordinal); // no stack trace
    }

    public void Dispose() => Directory.Delete(_data, recursive: true);
}
