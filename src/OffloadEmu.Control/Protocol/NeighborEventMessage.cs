using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

internal sealed class NeighborEventMessage : ControlMessage
{
    public override MessageType Type => MessageType.NeighborEvent;
    public NeighborEventCode Code { get; init; }
    public required OffloadBlock Block { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U32((uint)Code);
        WireCodec.Tree(ref w, Block, NblMode.Ref);
    }

    public static NeighborEventMessage Read(ref MessageReader r)
    {
        uint code = r.U32();
        if (code is < 1 or > 2) throw MessageReader.Malformed($"neighbour event code {code}");
        var block = WireCodec.ReadTree(ref r, NblMode.Ref);
        if (block.NextBlock is not null || block.DependentBlockList is not null) throw MessageReader.Malformed("neighbour event with more than one block");
        return new NeighborEventMessage { Code = (NeighborEventCode)code, Block = block };
    }
}
