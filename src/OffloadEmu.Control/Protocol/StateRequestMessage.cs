using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

/// <summary>A state operation (initiate, terminate, update, invalidate, query) with its tree.</summary>
internal sealed class StateRequestMessage(MessageType type) : ControlMessage
{
    public override MessageType Type { get; } = type;
    public required OffloadBlock Root { get; init; }

    /// <summary>Client side: the wire id of each NBL (outstanding sends); null = <see cref="NetBufferList.RequestId"/>.</summary>
    public Func<NetBufferList, ulong>? Ids { get; init; }

    public override void WritePayload(ref MessageWriter w) => WireCodec.Tree(ref w, Root, NblMode.Data, Ids);

    public override void Release() => WireCodec.ReleaseTree(Root);

    public StateOperation Operation => Type switch
    {
        MessageType.InitiateOffload => StateOperation.Initiate,
        MessageType.TerminateOffload => StateOperation.Terminate,
        MessageType.UpdateOffload => StateOperation.Update,
        MessageType.InvalidateOffload => StateOperation.Invalidate,
        _ => StateOperation.Query,
    };
}
