using OffloadEmu.Chimney;
using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Server;

/// <summary>A state operation a session issued: parked in the root's <see cref="OffloadBlock.ImReserved"/> (the target
/// never touches it) so the multiplexer routes the completion; holds each block's client handle to restore.</summary>
internal sealed class ServerCall(ControlSession session, ulong requestId, StateOperation operation, bool cleanup)
{
    public ControlSession Session { get; } = session;
    public ulong RequestId { get; } = requestId;
    public StateOperation Operation { get; } = operation;

    /// <summary>A terminate the server issued itself for a client that went away.</summary>
    public bool Cleanup { get; } = cleanup;

    /// <summary>Per block in traversal order: the block, the client's handle, the entry (new offload or linker).</summary>
    public List<(OffloadBlock Block, ulong ClientHandle, HandleEntry? Entry, bool IsNew)> Blocks { get; } = [];
}
