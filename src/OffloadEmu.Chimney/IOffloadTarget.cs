using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Chimney;

/// <summary>
/// The offload target side of the chimney contract (the NIC's <c>Miniport*</c> handlers): what a host stack, or a
/// layer above, calls to offload state and to move data on offloaded connections.
/// </summary>
/// <remarks>
/// <para>
/// Chimney spec §0 and §1. Every state operation and every TCP I/O request returns <see cref="NdisStatus.Pending"/>
/// and completes later through the bound <see cref="IOffloadHost"/>, never from inside the call (completions leave
/// through a scheduler such as <see cref="CompletionQueue"/>, architecture §3). The one synchronous request is
/// <see cref="TcpOffloadReceiveReturn"/> (spec §9.11).
/// </para>
/// <para>
/// Contexts. A TCP I/O request names its connection by the target's context id: the value the target wrote into the
/// block's <see cref="OffloadBlock.MiniportOffloadContext"/> slot when the object was offloaded
/// (<see cref="OffloadContextSlot.Context"/>). The host keeps the slot and passes <c>slot.Context</c>. Handles go the
/// other way: the target stores each block's <see cref="OffloadBlock.NdisOffloadHandle"/> and names the object by it
/// in every indication to the host (spec §0, "two references per object").
/// </para>
/// <para>
/// State trees. The target owns the tree from the call until it calls the matching <c>*Complete</c> with the same
/// root; before that it writes <see cref="OffloadBlock.Status"/> in every block (spec §1, §2) and must not touch
/// <see cref="OffloadBlock.ImReserved"/> or <see cref="OffloadBlock.SourceHandle"/>.
/// </para>
/// <para>
/// NBLs. The target owns the NBLs of a request until it completes them and hands back the same objects, with
/// <see cref="NetBufferList.Status"/> and the info values set; completions may batch NBLs of several requests of one
/// kind into one chain (spec §0).
/// </para>
/// </remarks>
public interface IOffloadTarget
{
    /// <summary>
    /// Registers the host (or layer) whose <c>Protocol*</c> handlers receive this target's completions and
    /// indications (the run-time callback table of <c>NdisMGetOffloadHandlers</c>, spec §0). Called once, before any
    /// other request.
    /// </summary>
    /// <exception cref="InvalidOperationException">A host is already bound.</exception>
    void Bind(IOffloadHost host);

    /// <summary>The capabilities currently enabled (OID_TCP_CONNECTION_OFFLOAD_CURRENT_CONFIG, spec §6.9).</summary>
    /// <remarks>The host re-reads them after an <see cref="NdisStatus.OffloadResume"/> indication (spec §6.6).</remarks>
    TcpConnectionOffloadCapabilities CurrentCapabilities { get; }

    /// <summary>What the hardware could do (OID_TCP_CONNECTION_OFFLOAD_HARDWARE_CAPABILITIES, spec §6.9).</summary>
    TcpConnectionOffloadCapabilities HardwareCapabilities { get; }

    /// <summary>
    /// Sets the offload parameters (OID_TCP_CONNECTION_OFFLOAD_PARAMETERS, spec §6.9); synchronous like an OID set
    /// that completes at once. Returns SUCCESS, or FAILURE / NOT_SUPPORTED when the values are refused.
    /// </summary>
    NdisStatus SetParameters(OffloadParameters parameters);

    /// <summary>The NIC's hardware address (OID_802_3_CURRENT_ADDRESS): the source MAC of every frame the target sends
    /// unless a neighbour's const <c>DlSourceAddress</c> names another supported one (spec §2).</summary>
    MacAddress MacAddress { get; }

    /// <summary>The link MTU in bytes (IP packet size, without the Ethernet header); path MTUs above it are refused at
    /// initiate with <see cref="NdisStatus.OffloadPathMtu"/> (spec §6.9, [EMU]).</summary>
    int Mtu { get; }

    /// <summary>
    /// The non-offload send path (MiniportSendNetBufferLists): sends one complete Ethernet frame the host built (ARP,
    /// ICMP, handshakes, host-mode connections). The frame is copied before the call returns. Returns SUCCESS, or
    /// RESOURCES when no transmit buffer is free (the frame is dropped and counted), or FAILURE when it is
    /// shorter than an Ethernet header or longer than MTU + Ethernet and VLAN headers.
    /// </summary>
    /// <remarks>Not part of the chimney function table: NDIS carries these frames through the ordinary miniport send
    /// path, below the offloaded connections (spec §0 "fallback", §6.5).</remarks>
    NdisStatus SendFrame(ReadOnlySpan<byte> frame);

    /// <summary>OID_TCP4_OFFLOAD_STATS / OID_TCP6_OFFLOAD_STATS: offloaded TCP traffic counters of one IP version (spec §6.10).</summary>
    TcpOffloadStatisticsSnapshot QueryTcpStatistics(bool ipv6);

    /// <summary>OID_IP4_OFFLOAD_STATS / OID_IP6_OFFLOAD_STATS: offloaded IP traffic counters of one IP version (spec §6.10).</summary>
    IpOffloadStatisticsSnapshot QueryIpStatistics(bool ipv6);

    /// <summary>A set of the statistics OIDs: zeroes the TCP and IP counters of one IP version (spec §6.10).</summary>
    void ResetStatistics(bool ipv6);

    /// <summary>MiniportInitiateOffload: offload the new objects of the tree (spec §2). Returns PENDING.</summary>
    NdisStatus InitiateOffload(OffloadBlock root);

    /// <summary>MiniportTerminateOffload: upload the objects of the tree, returning delegated state (spec §6.6). Returns PENDING.</summary>
    NdisStatus TerminateOffload(OffloadBlock root);

    /// <summary>MiniportUpdateOffload: copy cached state, maybe relink paths (spec §6.7). Returns PENDING.</summary>
    NdisStatus UpdateOffload(OffloadBlock root);

    /// <summary>MiniportInvalidateOffload: mark the objects invalid (spec §6.7). Returns PENDING.</summary>
    NdisStatus InvalidateOffload(OffloadBlock root);

    /// <summary>MiniportQueryOffload: overwrite the blocks' state with current values (spec §6.7). Returns PENDING.</summary>
    NdisStatus QueryOffloadState(OffloadBlock root);

    /// <summary>MiniportTcpOffloadSend: queue a chain of sends on connection <paramref name="context"/> (spec §5). Returns PENDING.</summary>
    NdisStatus TcpOffloadSend(ulong context, NetBufferList chain);

    /// <summary>MiniportTcpOffloadReceive: post a chain of receive buffers (spec §3). Returns PENDING.</summary>
    NdisStatus TcpOffloadReceive(ulong context, NetBufferList chain);

    /// <summary>MiniportTcpOffloadDisconnect: graceful or abortive close of the send half, one NBL (spec §6.1). Returns PENDING.</summary>
    NdisStatus TcpOffloadDisconnect(ulong context, NetBufferList nbl, TcpDisconnectFlags flags);

    /// <summary>MiniportTcpOffloadForward: TCP-header-first segments the host received but did not ACK (spec §4). Returns PENDING.</summary>
    NdisStatus TcpOffloadForward(ulong context, NetBufferList chain);

    /// <summary>
    /// MiniportTcpOffloadReceiveReturn: gives back NBLs the host accepted from receive indications, of any connection.
    /// Synchronous and always SUCCESS: it cannot fail (spec §3, §9.11).
    /// </summary>
    NdisStatus TcpOffloadReceiveReturn(NetBufferList chain);
}
