using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Server;

/// <summary>What the server parks in <see cref="Chimney.NetBufferList.ProtocolReserved"/> of an NBL it issued to the
/// target: whose it is, on which connection, and the pooled bytes to give back at completion.</summary>
internal sealed class ServerNbl(ControlSession session, ulong context, RentedBuffer? rented, bool internalPost = false)
{
    public ControlSession Session { get; } = session;
    public ulong Context { get; } = context;
    public RentedBuffer? Rented { get; } = rented;

    /// <summary>A post or disconnect the server made itself (re-arm or cleanup): its completion goes to no client.</summary>
    public bool Internal { get; } = internalPost;

    public void Release() => Rented?.Release();
}
