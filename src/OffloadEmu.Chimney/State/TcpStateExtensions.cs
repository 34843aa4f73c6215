namespace OffloadEmu.Chimney.State;

/// <summary>Rules on <see cref="TcpState"/> that the chimney contract fixes.</summary>
/// <remarks>Chimney spec §2 and §10 row 5.</remarks>
public static class TcpStateExtensions
{
    /// <summary>
    /// True for the states a TCP block may be offloaded in: Established, FinWait1, FinWait2, CloseWait, Closing and
    /// LastAck. Closed, Listen, SynSent, SynRcvd and TimeWait fail the initiate with FAILURE, as do undefined values.
    /// </summary>
    /// <remarks>
    /// The handshake and TIME_WAIT stay with the host because the target never creates or reaps connections
    /// (spec §0: the target only moves data).
    /// </remarks>
    public static bool IsOffloadable(this TcpState state) => state is >= TcpState.Established and <= TcpState.LastAck;

    /// <summary>True when <paramref name="state"/> is one of the eleven values NDIS defines.</summary>
    public static bool IsDefined(this TcpState state) => state is >= TcpState.Closed and <= TcpState.TimeWait;
}
