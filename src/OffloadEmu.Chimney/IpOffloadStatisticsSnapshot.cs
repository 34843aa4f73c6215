namespace OffloadEmu.Chimney;

/// <summary>A copy of the IP counters of one IP version (IP_OFFLOAD_STATS).</summary>
/// <remarks>Chimney spec §6.10; read through OID_IP4_OFFLOAD_STATS / OID_IP6_OFFLOAD_STATS. Octets include the IP header.</remarks>
/// <param name="InReceives">Datagrams received for offloaded connections, errors included.</param>
/// <param name="InOctets">Octets received, IP headers included.</param>
/// <param name="InDelivers">Datagrams delivered to offloaded TCP.</param>
/// <param name="OutRequests">Datagrams offloaded TCP handed to IP for sending.</param>
/// <param name="OutOctets">Octets sent, IP headers included.</param>
/// <param name="InHeaderErrors">Datagrams dropped for IP header errors.</param>
/// <param name="InTruncatedPackets">Datagrams dropped for being shorter than their headers say.</param>
/// <param name="InDiscards">Datagrams dropped without an error (e.g. no buffer).</param>
/// <param name="OutDiscards">Outgoing datagrams dropped without an error.</param>
/// <param name="OutNoRoutes">Outgoing datagrams dropped for want of a route.</param>
public readonly record struct IpOffloadStatisticsSnapshot(
    ulong InReceives,
    ulong InOctets,
    ulong InDelivers,
    ulong OutRequests,
    ulong OutOctets,
    ulong InHeaderErrors,
    ulong InTruncatedPackets,
    ulong InDiscards,
    ulong OutDiscards,
    ulong OutNoRoutes);
