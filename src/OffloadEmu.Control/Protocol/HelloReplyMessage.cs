using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

internal sealed class HelloReplyMessage : ControlMessage
{
    public override MessageType Type => MessageType.HelloReply;
    public ushort Version { get; init; } = ControlProtocol.Version;
    public required TcpConnectionOffloadCapabilities Current { get; init; }
    public required TcpConnectionOffloadCapabilities Hardware { get; init; }
    public MacAddress MacAddress { get; init; }
    public int Mtu { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U16(Version);
        WireCodec.Capabilities(ref w, Current);
        WireCodec.Capabilities(ref w, Hardware);
        WireCodec.Mac(ref w, MacAddress);
        w.I32(Mtu);
    }

    public static HelloReplyMessage Read(ref MessageReader r) => new()
    {
        Version = r.U16(), Current = WireCodec.Capabilities(ref r), Hardware = WireCodec.Capabilities(ref r),
        MacAddress = WireCodec.Mac(ref r), Mtu = r.I32(),
    };
}
