using OffloadEmu.Chimney;

namespace OffloadEmu.Target;

/// <summary>The statistics OIDs of a multi-loop target: each loop counts its own connections, the query adds them up.</summary>
internal static class StatisticsSum
{
    public static TcpOffloadStatisticsSnapshot Add(in TcpOffloadStatisticsSnapshot a, in TcpOffloadStatisticsSnapshot b) => new(
        a.InSegments + b.InSegments, a.OutSegments + b.OutSegments, a.CurrentlyEstablished + b.CurrentlyEstablished,
        a.ResetEstablished + b.ResetEstablished, a.RetransmittedSegments + b.RetransmittedSegments, a.InErrors + b.InErrors,
        a.OutResets + b.OutResets);

    public static IpOffloadStatisticsSnapshot Add(in IpOffloadStatisticsSnapshot a, in IpOffloadStatisticsSnapshot b) => new(
        a.InReceives + b.InReceives, a.InOctets + b.InOctets, a.InDelivers + b.InDelivers, a.OutRequests + b.OutRequests,
        a.OutOctets + b.OutOctets, a.InHeaderErrors + b.InHeaderErrors, a.InTruncatedPackets + b.InTruncatedPackets,
        a.InDiscards + b.InDiscards, a.OutDiscards + b.OutDiscards, a.OutNoRoutes + b.OutNoRoutes);
}
