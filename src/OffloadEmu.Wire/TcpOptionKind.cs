namespace OffloadEmu.Wire;

/// <summary>TCP option kinds this codec interprets (IANA "TCP Option Kind Numbers"); any other byte value is legal and skipped.</summary>
public enum TcpOptionKind : byte
{
    /// <summary>End of option list (RFC 9293 §3.2); one byte, no length.</summary>
    EndOfList = 0,
    /// <summary>No-operation (RFC 9293 §3.2); one byte, no length.</summary>
    Nop = 1,
    /// <summary>Maximum segment size (RFC 9293 §3.7.1), length 4.</summary>
    MaxSegmentSize = 2,
    /// <summary>Window scale (RFC 7323 §2.2), length 3.</summary>
    WindowScale = 3,
    /// <summary>SACK permitted (RFC 2018 §2), length 2.</summary>
    SackPermitted = 4,
    /// <summary>SACK (RFC 2018 §3), length 2 + 8n.</summary>
    Sack = 5,
    /// <summary>Timestamps (RFC 7323 §3.2), length 10.</summary>
    Timestamps = 8,
}
