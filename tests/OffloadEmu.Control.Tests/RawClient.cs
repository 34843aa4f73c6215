using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Tests;

/// <summary>A bare socket to the server, for malformed and out-of-order traffic.</summary>
internal sealed class RawClient : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);

    public RawClient(string path) => _socket.Connect(new UnixDomainSocketEndPoint(path));

    public void Send(ReadOnlySpan<byte> bytes)
    {
        try
        {
            while (!bytes.IsEmpty) bytes = bytes[_socket.Send(bytes)..];
        }
        catch (SocketException)
        {
            // the server may already have closed
        }
    }

    public void Send(ControlMessage message) => Send(message.ToArray());

    public static byte[] Frame(MessageType type, ulong id, ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[ControlProtocol.HeaderSize + payload.Length];
        ControlMessage.WriteHeader(bytes, (uint)payload.Length, type, id);
        payload.CopyTo(bytes.AsSpan(ControlProtocol.HeaderSize));
        return bytes;
    }

    public void Hello() => Send(new HelloMessage { ClientName = "raw", RequestId = 1 });

    /// <summary>Reads until the server closes (or the timeout passes) and decodes what came.</summary>
    public (List<ControlMessage> Messages, bool Closed) ReadUntilClosed(TimeSpan timeout)
    {
        _socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        var data = new MemoryStream();
        var buffer = new byte[65536];
        bool closed = false;
        var end = DateTime.UtcNow + timeout;
        try
        {
            while (DateTime.UtcNow < end)
            {
                int n = _socket.Receive(buffer);
                if (n == 0)
                {
                    closed = true;
                    break;
                }
                data.Write(buffer, 0, n);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset)
        {
            closed = true;
        }
        catch (SocketException)
        {
        }
        var list = new List<ControlMessage>();
        var seq = new ReadOnlySequence<byte>(data.ToArray());
        while (ControlMessage.TryReadFrame(ref seq, int.MaxValue, out var type, out var id, out var payload))
            list.Add(ControlMessage.Decode(type, id, payload));
        return (list, closed);
    }

    public static byte[] U32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }

    public void Dispose() => _socket.Dispose();
}
