using System.Net;
using System.Net.Sockets;

namespace Hotpath.Testing;

/// <summary>
/// A TCP port on 127.0.0.1 whose behaviour a test switches, to play an engine's outages against the real
/// engine behind it: <see cref="Mode.Refuse"/> (nothing listens), <see cref="Mode.Hang"/> (connections are
/// accepted and never answered) and <see cref="Mode.Forward"/> (bytes pass both ways to the real server);
/// <see cref="CutNext"/> plays one dropped connection.
/// </summary>
public sealed class TcpRelay : IAsyncDisposable
{
    public enum Mode { Refuse, Hang, Forward }

    private readonly IPEndPoint? _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _held = [];
    private TcpListener? _listener;
    private Task _accepting = Task.CompletedTask;
    private Mode _mode;
    private int _cutNext;

    private TcpRelay(int port, IPEndPoint? target)
    {
        Port = port;
        _target = target;
    }

    public int Port { get; }

    /// <summary>The relay's address as a URL, e.g. http://127.0.0.1:PORT.</summary>
    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>A relay in <paramref name="mode"/> before <paramref name="target"/> (a URL; none for a relay that never forwards).</summary>
    public static TcpRelay Start(Mode mode, string? target = null)
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        IPEndPoint? endpoint = target is null ? null : new IPEndPoint(IPAddress.Loopback, new Uri(target).Port);
        var relay = new TcpRelay(port, endpoint);
        relay.Switch(mode);
        return relay;
    }

    public void Switch(Mode mode)
    {
        if (mode == Mode.Forward && _target is null)
            throw new InvalidOperationException("this relay has nothing to forward to");
        _mode = mode;
        DropHeld(); // connections of the mode before (a client's pooled ones too) end with it
        if (mode == Mode.Refuse)
        {
            _listener?.Stop();
            _listener = null;
            return;
        }

        if (_listener is null)
        {
            _listener = new TcpListener(IPAddress.Loopback, Port);
            _listener.Start();
            _accepting = AcceptAsync(_listener);
        }
    }

    /// <summary>
    /// Ends the connections held now (a client's pooled ones too), and the next <paramref name="times"/> accepted
    /// once each one's request has come, unanswered: the client sees a response that ended before it began.
    /// </summary>
    public void CutNext(int times = 1)
    {
        Volatile.Write(ref _cutNext, times);
        DropHeld();
    }

    private async Task AcceptAsync(TcpListener listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(_stop.Token);
            }
            // InvalidOperationException: the listener was stopped (a switch to Refuse) between two accepts.
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            lock (_held)
                _held.Add(client);
            if (Volatile.Read(ref _cutNext) > 0 && Interlocked.Decrement(ref _cutNext) >= 0)
                _ = CutAsync(client);
            else if (_mode == Mode.Forward)
                _ = ForwardAsync(client); // else accepted, never read, never answered
        }
    }

    private async Task ForwardAsync(TcpClient client)
    {
        using (client)
        using (var upstream = new TcpClient())
        {
            try
            {
                await upstream.ConnectAsync(_target!, _stop.Token);
                var down = client.GetStream();
                var up = upstream.GetStream();
                await Task.WhenAny(down.CopyToAsync(up, _stop.Token), up.CopyToAsync(down, _stop.Token));
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
            {
                // Either side went away.
            }
        }
    }

    private async Task CutAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                _ = await client.GetStream().ReadAsync(new byte[4096], _stop.Token);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The client went away first.
            }
        }
    }

    private void DropHeld()
    {
        lock (_held)
        {
            foreach (var client in _held)
                client.Dispose();
            _held.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener?.Stop();
        DropHeld();
        await _accepting;
        _stop.Dispose();
    }
}
