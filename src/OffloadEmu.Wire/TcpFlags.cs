namespace OffloadEmu.Wire;

/// <summary>The TCP control bits, in their positions in the low nine bits of header bytes 12–13.</summary>
/// <remarks>
/// RFC 9293 §3.1 defines FIN..URG; RFC 3168 §6.1 adds ECE and CWR. <see cref="Ns"/> is the historic ECN-nonce bit
/// (RFC 3540, now reclaimed by AccECN as AE); it is kept so that a segment can be reproduced bit for bit.
/// </remarks>
[Flags]
public enum TcpFlags : ushort
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>No more data from sender.</summary>
    Fin = 0x001,
    /// <summary>Synchronize sequence numbers.</summary>
    Syn = 0x002,
    /// <summary>Reset the connection.</summary>
    Rst = 0x004,
    /// <summary>Push function.</summary>
    Psh = 0x008,
    /// <summary>Acknowledgment field is significant.</summary>
    Ack = 0x010,
    /// <summary>Urgent pointer field is significant.</summary>
    Urg = 0x020,
    /// <summary>ECN-Echo (RFC 3168).</summary>
    Ece = 0x040,
    /// <summary>Congestion Window Reduced (RFC 3168).</summary>
    Cwr = 0x080,
    /// <summary>ECN nonce sum (RFC 3540, historic) / AccECN AE.</summary>
    Ns = 0x100,
}
