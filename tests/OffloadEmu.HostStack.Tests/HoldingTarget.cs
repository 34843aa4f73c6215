namespace OffloadEmu.HostStack.Tests;

/// <summary>An <see cref="IOffloadTarget"/> decorator that holds initiate requests until <see cref="Release"/>, so
/// that segments arrive on the non-offload path while an offload is in progress (spec §4 case 1).</summary>
internal sealed class HoldingTarget(IOffloadTarget inner) : IOffloadTarget
{
    private readonly List<OffloadBlock> _held = [];

    public bool Hold { get; set; } = true;

    public int HeldCount => _held.Count;

    public void Release()
    {
        Hold = false;
        foreach (var root in _held) inner.InitiateOffload(root);
        _held.Clear();
    }

    public NdisStatus InitiateOffload(OffloadBlock root)
    {
        if (!Hold) return inner.InitiateOffload(root);
        _held.Add(root);
        return NdisStatus.Pending;
    }

    public void Bind(IOffloadHost host) => inner.Bind(host);
    public TcpConnectionOffloadCapabilities CurrentCapabilities => inner.CurrentCapabilities;
    public TcpConnectionOffloadCapabilities HardwareCapabilities => inner.HardwareCapabilities;
    public NdisStatus SetParameters(OffloadParameters parameters) => inner.SetParameters(parameters);
    public MacAddress MacAddress => inner.MacAddress;
    public int Mtu => inner.Mtu;
    public NdisStatus SendFrame(ReadOnlySpan<byte> frame) => inner.SendFrame(frame);
    public TcpOffloadStatisticsSnapshot QueryTcpStatistics(bool ipv6) => inner.QueryTcpStatistics(ipv6);
    public IpOffloadStatisticsSnapshot QueryIpStatistics(bool ipv6) => inner.QueryIpStatistics(ipv6);
    public void ResetStatistics(bool ipv6) => inner.ResetStatistics(ipv6);
    public NdisStatus TerminateOffload(OffloadBlock root) => inner.TerminateOffload(root);
    public NdisStatus UpdateOffload(OffloadBlock root) => inner.UpdateOffload(root);
    public NdisStatus InvalidateOffload(OffloadBlock root) => inner.InvalidateOffload(root);
    public NdisStatus QueryOffloadState(OffloadBlock root) => inner.QueryOffloadState(root);
    public NdisStatus TcpOffloadSend(ulong context, NetBufferList chain) => inner.TcpOffloadSend(context, chain);
    public NdisStatus TcpOffloadReceive(ulong context, NetBufferList chain) => inner.TcpOffloadReceive(context, chain);
    public NdisStatus TcpOffloadDisconnect(ulong context, NetBufferList nbl, TcpDisconnectFlags flags) => inner.TcpOffloadDisconnect(context, nbl, flags);
    public NdisStatus TcpOffloadForward(ulong context, NetBufferList chain) => inner.TcpOffloadForward(context, chain);
    public NdisStatus TcpOffloadReceiveReturn(NetBufferList chain) => inner.TcpOffloadReceiveReturn(chain);
}
