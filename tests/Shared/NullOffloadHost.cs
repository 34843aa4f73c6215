using OffloadEmu.Chimney;

namespace OffloadEmu.TestSupport;

/// <summary>A host that ignores every completion, event and frame and refuses every receive indication: tests derive
/// from it and override only what they watch. Shared by the test projects (linked, not referenced: test code only).</summary>
internal abstract class NullOffloadHost : IOffloadHost
{
    public virtual void InitiateOffloadComplete(OffloadBlock root) { }
    public virtual void TerminateOffloadComplete(OffloadBlock root) { }
    public virtual void UpdateOffloadComplete(OffloadBlock root) { }
    public virtual void InvalidateOffloadComplete(OffloadBlock root) { }
    public virtual void QueryOffloadStateComplete(OffloadBlock root) { }
    public virtual void TcpOffloadSendComplete(NetBufferList chain) { }
    public virtual void TcpOffloadReceiveComplete(NetBufferList chain) { }
    public virtual void TcpOffloadDisconnectComplete(NetBufferList nbl) { }
    public virtual void TcpOffloadForwardComplete(NetBufferList chain) { }

    public virtual NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
    {
        bytesConsumed = 0;
        return NdisStatus.OffloadDataNotAccepted;
    }

    public virtual void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info) { }
    public virtual void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code) { }
    public virtual void IndicateStatus(NdisStatus adapterStatus) { }
    public virtual void ReceiveFrame(ReadOnlySpan<byte> frame) { }
}
