namespace OffloadEmu.Chimney.Tests.Fakes;

/// <summary>One call the <see cref="RecordingHost"/> received, with the host's view of a tree at that moment.</summary>
public sealed record HostCall(
    string Name,
    OffloadBlock? Root,
    NetBufferList? Nbl,
    ulong Handle,
    TcpOffloadEventType EventType,
    uint Info,
    NdisStatus Status,
    NeighborEventCode NeighborCode,
    int ThreadId,
    IReadOnlyList<BlockView>? Tree);
