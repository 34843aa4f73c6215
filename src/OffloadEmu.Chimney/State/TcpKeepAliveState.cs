namespace OffloadEmu.Chimney.State;

/// <summary>The keepalive part of the TCP delegated state (TCP_OFFLOAD_STATE_DELEGATED.KeepAlive).</summary>
/// <remarks>
/// Chimney spec §2 and §6.8: exported at query/terminate so the keepalive timer continues where it stood. A
/// <see cref="TimeoutDelta"/> of <see cref="TcpDelegatedState.TimerOff"/> (-1, 0xFFFFFFFF in NDIS) means the timer
/// is not running; 0 means it expires at once after the import.
/// </remarks>
/// <param name="ProbeCount">Keepalive probes sent and not answered so far.</param>
/// <param name="TimeoutDelta">Ticks left until the keepalive timer fires; -1 = timer off, 0 = expire now.</param>
public readonly record struct TcpKeepAliveState(byte ProbeCount, int TimeoutDelta)
{
    /// <summary>No probe outstanding and the timer off.</summary>
    public static TcpKeepAliveState Off => new(0, TcpDelegatedState.TimerOff);

    /// <summary>True when the timer is running (<see cref="TimeoutDelta"/> is not -1).</summary>
    public bool IsRunning => TimeoutDelta != TcpDelegatedState.TimerOff;
}
