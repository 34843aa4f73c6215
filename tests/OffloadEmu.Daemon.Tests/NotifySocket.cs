using System.Net.Sockets;
using System.Text;

namespace OffloadEmu.Daemon.Tests;

/// <summary>A Unix datagram socket standing in for systemd's notification socket (path or '@abstract').</summary>
internal sealed class NotifySocket : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);

    internal NotifySocket(string address)
    {
        Address = address;
        _socket.Bind(new UnixDomainSocketEndPoint(address[0] == '@' ? "\0" + address[1..] : address));
        _socket.ReceiveTimeout = 15_000;
    }

    /// <summary>The value for NOTIFY_SOCKET.</summary>
    internal string Address { get; }

    /// <summary>The next datagram as text; fails the test on timeout.</summary>
    internal string Receive()
    {
        var buffer = new byte[4096];
        try
        {
            int n = _socket.Receive(buffer);
            return Encoding.UTF8.GetString(buffer, 0, n);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TimedOut)
        {
            Assert.Fail("no notification arrived on " + Address);
            throw;
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        if (Address[0] != '@') File.Delete(Address);
    }
}
