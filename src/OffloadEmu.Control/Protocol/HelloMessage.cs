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

    /// <summary>Host or monitor (u8 after the name).</summary>
    public ClientRole Role { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U32(Magic);
        w.U16(Version);
        w.String(ClientName);
        w.U8((byte)Role);
    }

    public static HelloMessage Read(ref MessageReader r)
    {
        uint magic = r.U32();
        ushort version = r.U16();
        string name = r.String(ControlProtocol.MaxNameBytes);
        byte role = r.U8();
        if (role > (byte)ClientRole.Monitor) throw MessageReader.Malformed($"client role {role}");
        return new() { Magic = magic, Version = version, ClientName = name, Role = (ClientRole)role };
    }
}
