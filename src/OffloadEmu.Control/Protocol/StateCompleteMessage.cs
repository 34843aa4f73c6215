using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

/// <summary>The completion of a state operation: the tree as the target completed it, in the request's traversal
/// order; returned send NBLs by reference, BufferedData with its bytes.</summary>
internal sealed class StateCompleteMessage : ControlMessage
{
    public override MessageType Type => MessageType.StateComplete;
    public StateOperation Operation { get; init; }
    public required OffloadBlock Root { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U8((byte)Operation);
        WireCodec.Tree(ref w, Root, NblMode.Ref);
    }

    public static StateCompleteMessage Read(ref MessageReader r)
    {
        byte op = r.U8();
        if (op > (byte)StateOperation.Query) throw MessageReader.Malformed($"operation {op}");
        return new StateCompleteMessage { Operation = (StateOperation)op, Root = WireCodec.ReadTree(ref r, NblMode.Ref) };
    }

    public override void Release() => WireCodec.ReleaseTree(Root);
}
