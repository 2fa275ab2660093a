using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Hotpath.Collector.Hosting;

/// <summary>profefe's address form: ":10100" (every interface), "127.0.0.1:10100", "[::1]:10100", "localhost:10100".</summary>
public static class ListenAddress
{
    /// <summary>The host (empty for every interface) and port of an address.</summary>
    public static (string Host, int Port) Parse(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var colon = address.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
            throw new InvalidOperationException($"Collector:Address \"{address}\" must look like \":10100\" or \"127.0.0.1:10100\"");
        return (address[..colon].Trim('[', ']'), port);
    }

    /// <summary>
    /// <paramref name="address"/>, given the host of <paramref name="main"/> when it names none (":4317"): a
    /// collector asked to listen on loopback serves every port there, not on every interface.
    /// </summary>
    public static string WithHostOf(string address, string main)
    {
        var (host, port) = Parse(address);
        if (host.Length > 0)
            return address;
        var (mainHost, _) = Parse(main);
        return mainHost.Contains(':', StringComparison.Ordinal) ? $"[{mainHost}]:{port}" : $"{mainHost}:{port}";
    }

    public static void Apply(KestrelServerOptions kestrel, string address, Action<ListenOptions>? configure = null)
    {
        var (host, port) = Parse(address);
        configure ??= _ => { };
        if (host.Length == 0)
            kestrel.ListenAnyIP(port, configure);
        else if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
            kestrel.ListenLocalhost(port, configure);
        else if (IPAddress.TryParse(host, out var ip))
            kestrel.Listen(ip, port, configure);
        else
            throw new InvalidOperationException($"Collector:Address host \"{host}\" is not an IP address or localhost");
    }
}
