namespace OffloadEmu.Chimney.Tests.Fakes;

/// <summary>A host whose handlers only count, so allocation measurements see the layers alone.</summary>
public sealed class CountingHost : IOffloadHost
{
    public int Completions;
    public int Events;
    public int Indications;

    public void InitiateOffloadComplete(OffloadBlock root) => Completions++;
    public void TerminateOffloadComplete(OffloadBlock root) => Completions++;
    public void UpdateOffloadComplete(OffloadBlock root) => Completions++;
    public void InvalidateOffloadComplete(OffloadBlock root) => Completions++;
    public void QueryOffloadStateComplete(OffloadBlock root) => Completions++;
    public void TcpOffloadSendComplete(NetBufferList chain) => Completions++;
    public void TcpOffloadReceiveComplete(NetBufferList chain) => Completions++;
    public void TcpOffloadDisconnectComplete(NetBufferList nbl) => Completions++;
    public void TcpOffloadForwardComplete(NetBufferList chain) => Completions++;

    public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
    {
        Indications++;
        bytesConsumed = 1;
        return NdisStatus.OffloadDataPartiallyAccepted;
    }

    public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info) => Events++;
    public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code) => Events++;
    public void IndicateStatus(NdisStatus adapterStatus) => Events++;

    public void ReceiveFrame(ReadOnlySpan<byte> frame) => Events++;
}
