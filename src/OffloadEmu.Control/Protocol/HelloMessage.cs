using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

internal sealed class HelloMessage : ControlMessage
{
    public override MessageType Type => MessageType.Hello;
    public uint Magic { get; init; } = ControlProtocol.Magic;
    public ushort Version { get; init; } = ControlProtocol.Version;
    public string ClientName { get; init; } = "";

    public override void WritePayload(ref MessageWriter w)
    {
        w.U32(Magic);
        w.U16(Version);
        w.String(ClientName);
    }

    public static HelloMessage Read(ref MessageReader r)
        => new() { Magic = r.U32(), Version = r.U16(), ClientName = r.String(ControlProtocol.MaxNameBytes) };
}
