using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

/// <summary>The host machine's segment writer: the machine writes TCP header and payload after room for Ethernet and
/// an IPv6 header (the larger one); <see cref="Commit"/> adds the headers of the connection's family (IPv4 headers end
/// where IPv6 ones would, so the frame starts 20 bytes later) and hands the frame to the target's non-offload path.</summary>
internal sealed class TcpFrameWriter(HostStack stack) : ITcpSegmentWriter
{
    private const int HeaderRoom = EthernetFrame.UntaggedHeaderLength + Ipv6Packet.HeaderLength;
    private const int Ipv4Start = Ipv6Packet.HeaderLength - Ipv4Packet.MinHeaderLength;
    private readonly byte[] _frame = new byte[HeaderRoom + 65_536];

    public MacAddress Destination { get; set; }

    public IpAddressValue RemoteAddress { get; set; }

    public Span<byte> GetBuffer(int length) => _frame.AsSpan(HeaderRoom, Math.Min(length, _frame.Length - HeaderRoom));

    public void Commit(int length)
    {
        var remote = RemoteAddress;
        if (remote.IsIpv6)
        {
            new EthernetRepr(stack.MacAddress, Destination, EtherType.Ipv6).Emit(_frame);
            new Ipv6Repr(stack.Address6, remote.Ipv6, IpProtocol.Tcp, length).Emit(_frame.AsSpan(EthernetFrame.UntaggedHeaderLength));
            stack.SendFrame(_frame.AsSpan(0, HeaderRoom + length));
            return;
        }
        new EthernetRepr(stack.MacAddress, Destination, EtherType.Ipv4).Emit(_frame.AsSpan(Ipv4Start));
        new Ipv4Repr(stack.Address, remote.Ipv4, IpProtocol.Tcp, length, 64, stack.NextIpId(), dontFragment: true)
            .Emit(_frame.AsSpan(Ipv4Start + EthernetFrame.UntaggedHeaderLength));
        stack.SendFrame(_frame.AsSpan(Ipv4Start, HeaderRoom - Ipv4Start + length));
    }
}
