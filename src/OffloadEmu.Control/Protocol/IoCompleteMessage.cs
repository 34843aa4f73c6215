using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

/// <summary>Send, forward and disconnect completions: the client's NBLs by id with status, byte count and windows.</summary>
internal sealed class IoCompleteMessage(MessageType type) : ControlMessage
{
    public override MessageType Type { get; } = type;
    public required List<NblRef> Nbls { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U32((uint)Nbls.Count);
        foreach (var n in Nbls) WireCodec.Ref(ref w, n);
    }
}
