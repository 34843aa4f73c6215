using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

/// <summary>The host machine's segment writer: the machine writes TCP header and payload after room for Ethernet and
/// IPv4 headers; <see cref="Commit"/> adds them and hands the frame to the target's non-offload send path.</summary>
internal sealed class TcpFrameWriter(HostStack stack) : ITcpSegmentWriter
{
    private const int HeaderRoom = EthernetFrame.UntaggedHeaderLength + Ipv4Packet.MinHeaderLength;
    private readonly byte[] _frame = new byte[HeaderRoom + 65_536];

    public MacAddress Destination { get; set; }

    public Ipv4Address RemoteAddress { get; set; }

    public Span<byte> GetBuffer(int length) => _frame.AsSpan(HeaderRoom, Math.Min(length, _frame.Length - HeaderRoom));

    public void Commit(int length)
    {
        new EthernetRepr(stack.MacAddress, Destination, EtherType.Ipv4).Emit(_frame);
        new Ipv4Repr(stack.Address, RemoteAddress, IpProtocol.Tcp, length, 64, stack.NextIpId(), dontFragment: true)
            .Emit(_frame.AsSpan(EthernetFrame.UntaggedHeaderLength));
        stack.SendFrame(_frame.AsSpan(0, HeaderRoom + length));
    }
}
