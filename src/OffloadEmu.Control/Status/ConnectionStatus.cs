using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Status;

/// <summary>One offloaded connection in a <see cref="StatusSnapshot"/>: like a line of `ss -ti` (architecture §5 names).</summary>
public sealed record class ConnectionStatus
{
    /// <summary>The target's context.</summary>
    public ulong Context { get; init; }

    /// <summary>The owning session's own handle for it (the server's handle when no session owns it).</summary>
    public ulong Handle { get; init; }

    /// <summary>The owning session's id (0: none, e.g. an in-process host).</summary>
    public ulong SessionId { get; init; }

    /// <summary>Local address and port.</summary>
    public IpAddressValue LocalAddress { get; init; }

    /// <summary>Local port.</summary>
    public ushort LocalPort { get; init; }

    /// <summary>Remote address.</summary>
    public IpAddressValue RemoteAddress { get; init; }

    /// <summary>Remote port.</summary>
    public ushort RemotePort { get; init; }

    /// <summary>TCP state.</summary>
    public TcpState State { get; init; }

    /// <summary>SND.UNA.</summary>
    public SeqNumber SndUna { get; init; }

    /// <summary>SND.NXT.</summary>
    public SeqNumber SndNxt { get; init; }

    /// <summary>Highest sequence number sent.</summary>
    public SeqNumber SndMax { get; init; }

    /// <summary>RCV.NXT.</summary>
    public SeqNumber RcvNxt { get; init; }

    /// <summary>Peer's window, bytes.</summary>
    public uint SndWnd { get; init; }

    /// <summary>Advertised receive window, bytes.</summary>
    public uint RcvWnd { get; init; }

    /// <summary>Congestion window, bytes.</summary>
    public uint CWnd { get; init; }

    /// <summary>Slow-start threshold, bytes.</summary>
    public uint SsThresh { get; init; }

    /// <summary>Smoothed RTT.</summary>
    public TimeSpan SRtt { get; init; }

    /// <summary>RTT variation.</summary>
    public TimeSpan RttVar { get; init; }

    /// <summary>Retransmission timeout.</summary>
    public TimeSpan Rto { get; init; }

    /// <summary>Effective MSS.</summary>
    public int Mss { get; init; }

    /// <summary>Segments retransmitted while offloaded to this target.</summary>
    public ulong RetransmittedSegments { get; init; }

    /// <summary>Consecutive retransmissions of the running timeout.</summary>
    public int RetransmitBackoff { get; init; }

    /// <summary>Segments received while offloaded.</summary>
    public ulong InSegments { get; init; }

    /// <summary>Segments sent while offloaded.</summary>
    public ulong OutSegments { get; init; }

    /// <summary>Send data the target holds (posted, not yet acknowledged), bytes.</summary>
    public long SendQueued { get; init; }

    /// <summary>The send backlog size last indicated to the host (what it should keep posted), bytes.</summary>
    public uint SendBacklog { get; init; }

    /// <summary>Received bytes waiting for the host, bytes.</summary>
    public int ReceiveBuffered { get; init; }
}
