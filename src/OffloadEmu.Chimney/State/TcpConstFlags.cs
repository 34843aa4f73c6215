namespace OffloadEmu.Chimney.State;

/// <summary>Options negotiated in the handshake (TCP_OFFLOAD_STATE_CONST.Flags).</summary>
/// <remarks>Chimney spec §2; the target uses an option only when its flag is set (spec §10 row 25).</remarks>
[Flags]
public enum TcpConstFlags : ushort
{
    /// <summary>No option negotiated.</summary>
    None = 0,

    /// <summary>RFC 7323 timestamps were negotiated (TCP_FLAG_TIMESTAMP_ENABLED).</summary>
    Timestamp = 0x01,

    /// <summary>SACK was negotiated (TCP_FLAG_SACK_ENABLED).</summary>
    Sack = 0x02,

    /// <summary>Window scaling was negotiated (TCP_FLAG_WINDOW_SCALING_ENABLED).</summary>
    WindowScaling = 0x04,
}
