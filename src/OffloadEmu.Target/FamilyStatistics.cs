using OffloadEmu.Chimney;

namespace OffloadEmu.Target;

/// <summary>The TCP_OFFLOAD_STATS and IP_OFFLOAD_STATS counters of one IP version (spec §6.10).</summary>
internal sealed class FamilyStatistics
{
    public TcpOffloadStatistics Tcp { get; } = new();

    public IpOffloadStatistics Ip { get; } = new();

    /// <summary>A set of the statistics OID zeroes the family (CurrentlyEstablished is a gauge and stays).</summary>
    public void Reset()
    {
        Tcp.Reset();
        Ip.Reset();
    }
}
