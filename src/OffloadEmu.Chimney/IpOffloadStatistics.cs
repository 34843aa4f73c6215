namespace OffloadEmu.Chimney;

/// <summary>Live IP counters of offloaded traffic for one IP version, safe to update from any thread.</summary>
/// <remarks>
/// Chimney spec §6.10: offloaded traffic only, per interface and IP version, octets including the IP header, wrapping
/// at 2^64. Each counter is updated atomically; <see cref="Snapshot"/> reads them one by one. <see cref="Reset"/>
/// (the OID set) zeroes them all.
/// </remarks>
public sealed class IpOffloadStatistics
{
    private ulong _inReceives;
    private ulong _inOctets;
    private ulong _inDelivers;
    private ulong _outRequests;
    private ulong _outOctets;
    private ulong _inHeaderErrors;
    private ulong _inTruncatedPackets;
    private ulong _inDiscards;
    private ulong _outDiscards;
    private ulong _outNoRoutes;

    /// <summary>Counts one received datagram of <paramref name="octets"/> bytes (IP header included): InReceives and InOctets.</summary>
    public void AddReceived(ulong octets) => AddReceived(octets, 1);

    /// <summary>Counts <paramref name="datagrams"/> received datagrams of <paramref name="octets"/> in all (a super-frame
    /// the sender's kernel did not cut).</summary>
    public void AddReceived(ulong octets, ulong datagrams)
    {
        Interlocked.Add(ref _inReceives, datagrams);
        Interlocked.Add(ref _inOctets, octets);
    }

    /// <summary>Counts datagrams delivered to offloaded TCP.</summary>
    public void AddInDelivers(ulong count = 1) => Interlocked.Add(ref _inDelivers, count);

    /// <summary>Counts one sent datagram of <paramref name="octets"/> bytes (IP header included): OutRequests and OutOctets.</summary>
    public void AddSent(ulong octets) => AddSent(octets, 1);

    /// <summary>Counts <paramref name="datagrams"/> datagrams of <paramref name="octets"/> in all sent (a super-segment the
    /// device cuts into that many).</summary>
    public void AddSent(ulong octets, ulong datagrams)
    {
        Interlocked.Add(ref _outRequests, datagrams);
        Interlocked.Add(ref _outOctets, octets);
    }

    /// <summary>Counts datagrams dropped for header errors.</summary>
    public void AddInHeaderErrors(ulong count = 1) => Interlocked.Add(ref _inHeaderErrors, count);

    /// <summary>Counts truncated datagrams dropped.</summary>
    public void AddInTruncatedPackets(ulong count = 1) => Interlocked.Add(ref _inTruncatedPackets, count);

    /// <summary>Counts received datagrams discarded without an error.</summary>
    public void AddInDiscards(ulong count = 1) => Interlocked.Add(ref _inDiscards, count);

    /// <summary>Counts outgoing datagrams discarded without an error.</summary>
    public void AddOutDiscards(ulong count = 1) => Interlocked.Add(ref _outDiscards, count);

    /// <summary>Counts outgoing datagrams dropped for want of a route.</summary>
    public void AddOutNoRoutes(ulong count = 1) => Interlocked.Add(ref _outNoRoutes, count);

    /// <summary>Reads every counter.</summary>
    public IpOffloadStatisticsSnapshot Snapshot() => new(
        Interlocked.Read(ref _inReceives),
        Interlocked.Read(ref _inOctets),
        Interlocked.Read(ref _inDelivers),
        Interlocked.Read(ref _outRequests),
        Interlocked.Read(ref _outOctets),
        Interlocked.Read(ref _inHeaderErrors),
        Interlocked.Read(ref _inTruncatedPackets),
        Interlocked.Read(ref _inDiscards),
        Interlocked.Read(ref _outDiscards),
        Interlocked.Read(ref _outNoRoutes));

    /// <summary>Zeroes every counter (the OID set).</summary>
    public void Reset()
    {
        Interlocked.Exchange(ref _inReceives, 0);
        Interlocked.Exchange(ref _inOctets, 0);
        Interlocked.Exchange(ref _inDelivers, 0);
        Interlocked.Exchange(ref _outRequests, 0);
        Interlocked.Exchange(ref _outOctets, 0);
        Interlocked.Exchange(ref _inHeaderErrors, 0);
        Interlocked.Exchange(ref _inTruncatedPackets, 0);
        Interlocked.Exchange(ref _inDiscards, 0);
        Interlocked.Exchange(ref _outDiscards, 0);
        Interlocked.Exchange(ref _outNoRoutes, 0);
    }
}
