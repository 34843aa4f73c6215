using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;

namespace OffloadEmu.Control;

/// <summary>
/// What the daemon's offload target has in effect for new connections: its offload parameters (spec §6.9) and the TCP
/// timing its connections run with (docs/control.md, QueryParameters). A test peer that continues an offloaded
/// connection reads the tick (the unit of <c>TsTime</c>/<c>TsRecent</c>), the RTO floor, the FIN_WAIT_2 time and the
/// challenge-ACK rate limit from it.
/// </summary>
public sealed record class TargetParameters
{
    /// <summary>SUCCESS, or NOT_SUPPORTED when the server was given no source for them (the values are then defaults).</summary>
    public NdisStatus Status { get; init; } = NdisStatus.Success;

    /// <summary>The offload parameters in effect (OID_TCP_CONNECTION_OFFLOAD_PARAMETERS); the tick is
    /// <see cref="OffloadParameters.TicksPerSecond"/>.</summary>
    public OffloadParameters Parameters { get; init; } = OffloadParameters.Default;

    /// <summary>The smallest retransmission timeout (the RTO floor).</summary>
    public TimeSpan MinRto { get; init; }

    /// <summary>The largest retransmission timeout.</summary>
    public TimeSpan MaxRto { get; init; }

    /// <summary>How long an orphaned FIN_WAIT_2 lasts before the connection is dropped.</summary>
    public TimeSpan FinWait2Timeout { get; init; }

    /// <summary>At most one challenge ACK per this interval (RFC 5961 §7, spec §6.5).</summary>
    public TimeSpan ChallengeAckInterval { get; init; }
}
