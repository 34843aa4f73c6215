using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

/// <summary>One completed receive post: the client's NBL id, its connection, status and the bytes placed.</summary>
internal sealed class ReceiveCompletion
{
    public ulong Context { get; init; }
    public ulong Id { get; init; }
    public NdisStatus Status { get; init; }
    public required PooledBytes Data { get; init; }
}
