namespace OffloadEmu.Chimney.State;

/// <summary>Switches and one-shot requests in the host-owned TCP variables (TCP_OFFLOAD_STATE_CACHED.Flags).</summary>
/// <remarks>
/// Chimney spec §2 and §9.5: the two RESTART flags and UPDATE_RCV_WND act at the Update that carries them; they are
/// requests, not lasting state.
/// </remarks>
[Flags]
public enum TcpCachedFlags : ushort
{
    /// <summary>No flag set.</summary>
    None = 0,

    /// <summary>Keepalive probes are enabled (TCP_FLAG_KEEP_ALIVE_ENABLED).</summary>
    KeepAliveEnabled = 0x01,

    /// <summary>Nagle's algorithm is enabled (TCP_FLAG_NAGLING_ENABLED).</summary>
    NaglingEnabled = 0x02,

    /// <summary>Reset the keepalive counters on this update (TCP_FLAG_KEEP_ALIVE_RESTART; spec §9.5).</summary>
    KeepAliveRestart = 0x04,

    /// <summary>Zero TotalRT on this update (TCP_FLAG_MAX_RT_RESTART; spec §9.5).</summary>
    MaxRtRestart = 0x08,

    /// <summary>Advertise the new InitialRcvWnd if it differs from RcvWnd (TCP_FLAG_UPDATE_RCV_WND).</summary>
    UpdateRcvWnd = 0x10,
}
