namespace OffloadEmu.Chimney.State;

/// <summary>The retransmit part of the TCP delegated state (TCP_OFFLOAD_STATE_DELEGATED.Retransmit).</summary>
/// <remarks>
/// Chimney spec §2 and §6.8: the same timer also serves as persist timer and FIN_WAIT_2 timer. A
/// <see cref="TimeoutDelta"/> of <see cref="TcpDelegatedState.TimerOff"/> (-1, 0xFFFFFFFF in NDIS) means the timer is
/// not running; 0 means it expires at once after the import.
/// </remarks>
/// <param name="Count">Retransmissions (or persist probes) of the current segment so far; drives the RTO back-off.</param>
/// <param name="TimeoutDelta">Ticks left until the retransmit timer fires; -1 = timer off, 0 = expire now.</param>
public readonly record struct TcpRetransmitState(byte Count, int TimeoutDelta)
{
    /// <summary>No retransmission so far and the timer off.</summary>
    public static TcpRetransmitState Off => new(0, TcpDelegatedState.TimerOff);

    /// <summary>True when the timer is running (<see cref="TimeoutDelta"/> is not -1).</summary>
    public bool IsRunning => TimeoutDelta != TcpDelegatedState.TimerOff;
}
