using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Target;
using OffloadEmu.Wire;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>The daemon's offload target as its host sees it: every request goes straight to the target; only
/// <see cref="Bind"/> differs, binding the host into the sink's <see cref="TargetFrameSink.HostSlot"/> (the target itself
/// is bound to the slot from the start, so frames that go up before a host binds are counted, not lost silently).</summary>
internal sealed class SlotBoundTarget(OffloadTarget target, TargetFrameSink.HostSlot slot) : IOffloadTarget
{
    public void Bind(IOffloadHost host) => slot.Bind(host);
    public TcpConnectionOffloadCapabilities CurrentCapabilities => target.CurrentCapabilities;
    public TcpConnectionOffloadCapabilities HardwareCapabilities => target.HardwareCapabilities;
    public NdisStatus SetParameters(OffloadParameters parameters) => target.SetParameters(parameters);
    public MacAddress MacAddress => target.MacAddress;
    public int Mtu => target.Mtu;
    public NdisStatus SendFrame(ReadOnlySpan<byte> frame) => target.SendFrame(frame);
    public TcpOffloadStatisticsSnapshot QueryTcpStatistics(bool ipv6) => target.QueryTcpStatistics(ipv6);
    public IpOffloadStatisticsSnapshot QueryIpStatistics(bool ipv6) => target.QueryIpStatistics(ipv6);
    public void ResetStatistics(bool ipv6) => target.ResetStatistics(ipv6);
    public NdisStatus InitiateOffload(OffloadBlock root) => target.InitiateOffload(root);
    public NdisStatus TerminateOffload(OffloadBlock root) => target.TerminateOffload(root);
    public NdisStatus UpdateOffload(OffloadBlock root) => target.UpdateOffload(root);
    public NdisStatus InvalidateOffload(OffloadBlock root) => target.InvalidateOffload(root);
    public NdisStatus QueryOffloadState(OffloadBlock root) => target.QueryOffloadState(root);
    public NdisStatus TcpOffloadSend(ulong context, NetBufferList chain) => target.TcpOffloadSend(context, chain);
    public NdisStatus TcpOffloadReceive(ulong context, NetBufferList chain) => target.TcpOffloadReceive(context, chain);
    public NdisStatus TcpOffloadDisconnect(ulong context, NetBufferList nbl, TcpDisconnectFlags flags) => target.TcpOffloadDisconnect(context, nbl, flags);
    public NdisStatus TcpOffloadForward(ulong context, NetBufferList chain) => target.TcpOffloadForward(context, chain);
    public NdisStatus TcpOffloadReceiveReturn(NetBufferList chain) => target.TcpOffloadReceiveReturn(chain);
}
