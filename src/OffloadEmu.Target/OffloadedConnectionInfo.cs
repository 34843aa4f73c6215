using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Target;

/// <summary>
/// One offloaded TCP connection as the engine saw it at one instant (<see cref="OffloadTarget.SnapshotConnectionsAsync"/>),
/// the `ss -ti` view of the emulated NIC: endpoints, state and the RFC 793/5681/6298 variables (architecture §5 names).
/// </summary>
/// <remarks>Taken on the engine thread, so every field of one connection is consistent with the others.</remarks>
public sealed record class OffloadedConnectionInfo
{
    /// <summary>The target's context (the <c>MiniportOffloadContext</c>).</summary>
    public ulong Context { get; init; }

    /// <summary>The host's <c>NdisOffloadHandle</c> for the connection.</summary>
    public ulong Handle { get; init; }

    /// <summary>Local address (the NIC's side).</summary>
    public IpAddressValue LocalAddress { get; init; }

    /// <summary>Local port.</summary>
    public ushort LocalPort { get; init; }

    /// <summary>Remote address (the peer).</summary>
    public IpAddressValue RemoteAddress { get; init; }

    /// <summary>Remote port.</summary>
    public ushort RemotePort { get; init; }

    /// <summary>TCP state.</summary>
    public TcpState State { get; init; }

    /// <summary>Oldest unacknowledged sequence number.</summary>
    public SeqNumber SndUna { get; init; }

    /// <summary>Next sequence number to send.</summary>
    public SeqNumber SndNxt { get; init; }

    /// <summary>Highest sequence number sent.</summary>
    public SeqNumber SndMax { get; init; }

    /// <summary>Next sequence number expected from the peer.</summary>
    public SeqNumber RcvNxt { get; init; }

    /// <summary>Peer's advertised window, in bytes (scaled).</summary>
    public uint SndWnd { get; init; }

    /// <summary>Window this side advertises, in bytes.</summary>
    public uint RcvWnd { get; init; }

    /// <summary>Congestion window, bytes.</summary>
    public uint CWnd { get; init; }

    /// <summary>Slow-start threshold, bytes.</summary>
    public uint SsThresh { get; init; }

    /// <summary>Smoothed round-trip time.</summary>
    public TimeSpan SRtt { get; init; }

    /// <summary>Round-trip time variation.</summary>
    public TimeSpan RttVar { get; init; }

    /// <summary>Retransmission timeout now.</summary>
    public TimeSpan Rto { get; init; }

    /// <summary>Effective MSS (payload bytes per segment).</summary>
    public int Mss { get; init; }

    /// <summary>Segments retransmitted while on this target.</summary>
    public ulong RetransmittedSegments { get; init; }

    /// <summary>Consecutive retransmissions of the current timeout (the backoff count, 0 when none is running).</summary>
    public int RetransmitBackoff { get; init; }

    /// <summary>Segments received while on this target.</summary>
    public ulong InSegments { get; init; }

    /// <summary>Segments sent while on this target.</summary>
    public ulong OutSegments { get; init; }

    /// <summary>Send data the target holds: posted by the host and not yet acknowledged by the peer, bytes (Send-Q).</summary>
    public long SendQueued { get; init; }

    /// <summary>The send backlog size last indicated to the host (the bytes it should keep posted, spec §6.3), bytes.</summary>
    public uint SendBacklog { get; init; }

    /// <summary>Received bytes waiting for the host (not yet indicated or placed).</summary>
    public int ReceiveBuffered { get; init; }

    /// <summary>Receive posts of the host waiting for data (diagnostics; not in the daemon's status).</summary>
    public int ReceivePosts { get; init; }

    /// <summary>An indication is with the host, not yet answered (diagnostics; not in the daemon's status).</summary>
    public bool IndicationOutstanding { get; init; }

    /// <summary>The host refused an indication and has not posted since (diagnostics; not in the daemon's status).</summary>
    public bool IndicationsBlocked { get; init; }
}
