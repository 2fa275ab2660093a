using System.Diagnostics;
using System.Net.Sockets;

namespace Hotpath.Testing;

/// <summary>Waiting for a server process of the tests to listen on its 127.0.0.1 port.</summary>
public static class LocalPort
{
    /// <summary>Returns once the port accepts connections; kills the process and throws if it never does.</summary>
    public static void WaitForListener(int port, Process process, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                using var client = new TcpClient("127.0.0.1", port);
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(100);
            }
        }

        if (!process.HasExited)
            process.Kill();
        throw new InvalidOperationException($"{what} did not start listening on 127.0.0.1:{port}");
    }
}
