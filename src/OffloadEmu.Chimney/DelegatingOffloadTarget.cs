using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Chimney;

/// <summary>
/// An <see cref="IOffloadTarget"/> that hands every call to <see cref="Inner"/> unchanged: the base for wrappers that
/// change one or two calls (hold an initiate, route <see cref="Bind"/> elsewhere) and leave the rest alone. Wrappers that
/// re-handle everything (the pass-through layer, the contract checker) implement the interface themselves.
/// </summary>
public abstract class DelegatingOffloadTarget(IOffloadTarget inner) : IOffloadTarget
{
    /// <summary>The target every call goes to.</summary>
    protected IOffloadTarget Inner { get; } = inner ?? throw new ArgumentNullException(nameof(inner));

    /// <inheritdoc/>
    public virtual void Bind(IOffloadHost host) => Inner.Bind(host);

    /// <inheritdoc/>
    public virtual TcpConnectionOffloadCapabilities CurrentCapabilities => Inner.CurrentCapabilities;

    /// <inheritdoc/>
    public virtual TcpConnectionOffloadCapabilities HardwareCapabilities => Inner.HardwareCapabilities;

    /// <inheritdoc/>
    public virtual NdisStatus SetParameters(OffloadParameters parameters) => Inner.SetParameters(parameters);

    /// <inheritdoc/>
    public virtual MacAddress MacAddress => Inner.MacAddress;

    /// <inheritdoc/>
    public virtual int Mtu => Inner.Mtu;

    /// <inheritdoc/>
    public virtual NdisStatus SendFrame(ReadOnlySpan<byte> frame) => Inner.SendFrame(frame);

    /// <inheritdoc/>
    public virtual TcpOffloadStatisticsSnapshot QueryTcpStatistics(bool ipv6) => Inner.QueryTcpStatistics(ipv6);

    /// <inheritdoc/>
    public virtual IpOffloadStatisticsSnapshot QueryIpStatistics(bool ipv6) => Inner.QueryIpStatistics(ipv6);

    /// <inheritdoc/>
    public virtual void ResetStatistics(bool ipv6) => Inner.ResetStatistics(ipv6);

    /// <inheritdoc/>
    public virtual NdisStatus InitiateOffload(OffloadBlock root) => Inner.InitiateOffload(root);

    /// <inheritdoc/>
    public virtual NdisStatus TerminateOffload(OffloadBlock root) => Inner.TerminateOffload(root);

    /// <inheritdoc/>
    public virtual NdisStatus UpdateOffload(OffloadBlock root) => Inner.UpdateOffload(root);

    /// <inheritdoc/>
    public virtual NdisStatus InvalidateOffload(OffloadBlock root) => Inner.InvalidateOffload(root);

    /// <inheritdoc/>
    public virtual NdisStatus QueryOffloadState(OffloadBlock root) => Inner.QueryOffloadState(root);

    /// <inheritdoc/>
    public virtual NdisStatus TcpOffloadSend(ulong context, NetBufferList chain) => Inner.TcpOffloadSend(context, chain);

    /// <inheritdoc/>
    public virtual NdisStatus TcpOffloadReceive(ulong context, NetBufferList chain) => Inner.TcpOffloadReceive(context, chain);

    /// <inheritdoc/>
    public virtual NdisStatus TcpOffloadDisconnect(ulong context, NetBufferList nbl, TcpDisconnectFlags flags)
        => Inner.TcpOffloadDisconnect(context, nbl, flags);

    /// <inheritdoc/>
    public virtual NdisStatus TcpOffloadForward(ulong context, NetBufferList chain) => Inner.TcpOffloadForward(context, chain);

    /// <inheritdoc/>
    public virtual NdisStatus TcpOffloadReceiveReturn(NetBufferList chain) => Inner.TcpOffloadReceiveReturn(chain);
}
