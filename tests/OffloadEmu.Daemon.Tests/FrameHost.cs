using OffloadEmu.Chimney;

namespace OffloadEmu.Daemon.Tests;

/// <summary>A host bound over the control socket that only keeps the frames of the non-offload path (when given a
/// list) and refuses indications; everything else it ignores.</summary>
internal sealed class FrameHost(List<byte[]>? frames = null) : IOffloadHost
{
    public void ReceiveFrame(ReadOnlySpan<byte> frame)
    {
        if (frames is null) return;
        lock (frames) frames.Add(frame.ToArray());
    }

    public void IndicateStatus(NdisStatus adapterStatus) { }
    public void InitiateOffloadComplete(OffloadBlock root) { }
    public void TerminateOffloadComplete(OffloadBlock root) { }
    public void UpdateOffloadComplete(OffloadBlock root) { }
    public void InvalidateOffloadComplete(OffloadBlock root) { }
    public void QueryOffloadStateComplete(OffloadBlock root) { }
    public void TcpOffloadSendComplete(NetBufferList chain) { }
    public void TcpOffloadReceiveComplete(NetBufferList chain) { }
    public void TcpOffloadDisconnectComplete(NetBufferList nbl) { }
    public void TcpOffloadForwardComplete(NetBufferList chain) { }

    public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
    {
        bytesConsumed = 0;
        return NdisStatus.OffloadDataNotAccepted;
    }

    public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info) { }
    public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code) { }
}
