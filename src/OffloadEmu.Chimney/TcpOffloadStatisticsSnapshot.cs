namespace OffloadEmu.Chimney;

/// <summary>A copy of the TCP counters of one IP version (TCP_OFFLOAD_STATS).</summary>
/// <remarks>Chimney spec §6.10; read through OID_TCP4_OFFLOAD_STATS / OID_TCP6_OFFLOAD_STATS.</remarks>
/// <param name="InSegments">Segments received on offloaded connections.</param>
/// <param name="OutSegments">Segments sent, pure retransmissions excluded.</param>
/// <param name="CurrentlyEstablished">Connections now in ESTABLISHED or CLOSE_WAIT (a gauge).</param>
/// <param name="ResetEstablished">Connections that went from ESTABLISHED or CLOSE_WAIT straight to CLOSED by a reset.</param>
/// <param name="RetransmittedSegments">Segments retransmitted.</param>
/// <param name="InErrors">Segments received in error (bad header or checksum) and dropped.</param>
/// <param name="OutResets">Segments sent with RST.</param>
public readonly record struct TcpOffloadStatisticsSnapshot(
    ulong InSegments,
    ulong OutSegments,
    ulong CurrentlyEstablished,
    ulong ResetEstablished,
    ulong RetransmittedSegments,
    ulong InErrors,
    ulong OutResets);
