using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

/// <summary>The completion of a state operation: the tree as the target completed it, in the request's traversal
/// order: statuses, contexts and state records. Only a terminate carries NBLs (returned send NBLs by reference,
/// BufferedData with its bytes); other completions return none (spec §2), and the chain of a successful initiate is the
/// target's from then on, being completed on the target's own thread while this message is encoded.</summary>
internal sealed class StateCompleteMessage : ControlMessage
{
    public override MessageType Type => MessageType.StateComplete;
    public StateOperation Operation { get; init; }
    public required OffloadBlock Root { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        w.U8((byte)Operation);
        WireCodec.Tree(ref w, Root, NblMode.Ref, withData: Operation == StateOperation.Terminate);
    }

    public static StateCompleteMessage Read(ref MessageReader r)
    {
        byte op = r.U8();
        if (op > (byte)StateOperation.Query) throw MessageReader.Malformed($"operation {op}");
        return new StateCompleteMessage { Operation = (StateOperation)op, Root = WireCodec.ReadTree(ref r, NblMode.Ref) };
    }

    public override void Release() => WireCodec.ReleaseTree(Root);
}
