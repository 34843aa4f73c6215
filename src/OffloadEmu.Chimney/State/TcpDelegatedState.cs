using OffloadEmu.Wire;

namespace OffloadEmu.Chimney.State;

/// <summary>
/// The target-owned variables of an offloaded TCP connection (TCP_OFFLOAD_STATE_DELEGATED): what a TCP machine imports
/// at initiate and exports at query and terminate.
/// </summary>
/// <remarks>
/// <para>
/// Chimney spec §2: the host sets the initial values; afterwards the target owns them silently and returns them with
/// Query (spec §6.7) and Terminate (spec §6.6). Field widths follow the NDIS structure so that an import followed by
/// an export is bit-for-bit comparable (record equality). Times are in ticks of
/// <see cref="OffloadParameters.TicksPerSecond"/>; <see cref="SRtt"/> is scaled by 8 and <see cref="RttVar"/> by 4
/// (RFC 6298 fixed point, as BSD keeps them) in both directions.
/// </para>
/// <para>
/// The NDIS structure overlays two unions, which here are separate properties: the send data
/// (<see cref="SendDataHead"/>/<see cref="SendDataTail"/>, used by initiate and terminate) or
/// <see cref="SendBacklogSize"/> (used by query), and <see cref="BufferedData"/> (initiate/terminate) or
/// <see cref="ReceiveBacklogSize"/> (query). Only the member relevant to the operation is meaningful. The buffer-list
/// references compare by reference identity.
/// </para>
/// <para>
/// A mutable class because the owner of a connection updates it in place at every export and the NBL references in
/// the unions make it a handle rather than a pure value; use <c>with { }</c> for a copy.
/// </para>
/// </remarks>
public sealed record class TcpDelegatedState
{
    /// <summary>Timer delta meaning "timer not running" (0xFFFFFFFF as an NDIS ULONG).</summary>
    public const int TimerOff = -1;

    /// <summary><see cref="SendBacklogSize"/> value meaning "the target does not report a backlog".</summary>
    public const uint SendBacklogUnsupported = 0xFFFF_FFFF;

    /// <summary>Fixed-point scale of <see cref="SRtt"/>.</summary>
    public const int SRttScale = 8;

    /// <summary>Fixed-point scale of <see cref="RttVar"/>.</summary>
    public const int RttVarScale = 4;

    /// <summary>RFC 793 state of the connection. At initiate only offloadable states are accepted (<see cref="TcpStateExtensions.IsOffloadable"/>).</summary>
    public TcpState State { get; set; }

    /// <summary>Reserved NDIS flags; carried through unchanged.</summary>
    public ushort Flags { get; set; }

    /// <summary>Next sequence number expected from the peer (RCV.NXT).</summary>
    public SeqNumber RcvNxt { get; set; }

    /// <summary>Receive window in bytes, unscaled (RCV.WND).</summary>
    public uint RcvWnd { get; set; }

    /// <summary>Oldest unacknowledged sequence number (SND.UNA); the first byte of <see cref="SendDataHead"/> at initiate/terminate.</summary>
    public SeqNumber SndUna { get; set; }

    /// <summary>Next sequence number to send (SND.NXT); may be below <see cref="SndMax"/> after a retransmission timeout.</summary>
    public SeqNumber SndNxt { get; set; }

    /// <summary>Highest sequence number sent so far plus one (spec §5: [SndNxt, SndMax) is sent first after the import).</summary>
    public SeqNumber SndMax { get; set; }

    /// <summary>Peer's advertised window in bytes, already scaled (SND.WND).</summary>
    public uint SndWnd { get; set; }

    /// <summary>Largest window the peer has advertised, in bytes.</summary>
    public uint MaxSndWnd { get; set; }

    /// <summary>Sequence number of the segment that last updated <see cref="SndWnd"/> (SND.WL1).</summary>
    public SeqNumber SendWL1 { get; set; }

    /// <summary>Congestion window in bytes.</summary>
    public uint CWnd { get; set; }

    /// <summary>Slow-start threshold in bytes.</summary>
    public uint SsThresh { get; set; }

    /// <summary>Smoothed round-trip time in ticks, scaled by 8 (<see cref="SRttScale"/>).</summary>
    public ushort SRtt { get; set; }

    /// <summary>Round-trip time variation in ticks, scaled by 4 (<see cref="RttVarScale"/>).</summary>
    public ushort RttVar { get; set; }

    /// <summary>Timestamp value to echo in TSecr (RFC 7323 TS.Recent); a timestamp, not a sequence number.</summary>
    public uint TsRecent { get; set; }

    /// <summary>Ticks since <see cref="TsRecent"/> was last updated (for the 24-day PAWS rule of RFC 7323 §5.5).</summary>
    public uint TsRecentAge { get; set; }

    /// <summary>
    /// Current timestamp clock value of the connection. The target keeps NicDelta = TsTime - NicTime at import and
    /// exports NicTime + NicDelta, so TSval never goes backwards across offload and upload (spec §6.8).
    /// </summary>
    public uint TsTime { get; set; }

    /// <summary>Ticks spent retransmitting the current segment; compared with the cached MaxRT (spec §6.8).</summary>
    public uint TotalRT { get; set; }

    /// <summary>Duplicate ACKs received in a row (fast retransmit at TcpDuplicateAckThreshold).</summary>
    public byte DupAckCount { get; set; }

    /// <summary>Zero-window probes sent in the current persist round (spec §6.8).</summary>
    public byte SndWndProbeCount { get; set; }

    /// <summary>Keepalive probe count and timer; defaults to <see cref="TcpKeepAliveState.Off"/>.</summary>
    public TcpKeepAliveState KeepAlive { get; set; } = TcpKeepAliveState.Off;

    /// <summary>Retransmit (also persist and FIN_WAIT_2) count and timer; defaults to <see cref="TcpRetransmitState.Off"/>.</summary>
    public TcpRetransmitState Retransmit { get; set; } = TcpRetransmitState.Off;

    /// <summary>
    /// Initiate/terminate: first NBL of the outstanding send data (one NB per NBL; its current data start is
    /// <see cref="SndUna"/>), or null when there is none (spec §5).
    /// </summary>
    public NetBufferList? SendDataHead { get; set; }

    /// <summary>Initiate/terminate: last NBL of the outstanding send data, or null when there is none (spec §5).</summary>
    public NetBufferList? SendDataTail { get; set; }

    /// <summary>
    /// Query: bytes the target wants the host to keep outstanding, or <see cref="SendBacklogUnsupported"/>
    /// (spec §5 "send backlog").
    /// </summary>
    public uint SendBacklogSize { get; set; }

    /// <summary>
    /// Initiate/terminate: received bytes not yet delivered, ending just below <see cref="RcvNxt"/>, as a chain of NBLs;
    /// null when none (spec §3 "buffered data at initiate", §6.6).
    /// </summary>
    public NetBufferList? BufferedData { get; set; }

    /// <summary>Query: bytes of received data the target holds undelivered (spec §2).</summary>
    public uint ReceiveBacklogSize { get; set; }

    /// <summary>Reserved (NDIS 6.1 DWnd, undocumented); carried through unchanged.</summary>
    public uint DWnd { get; set; }
}
