namespace OffloadEmu.Wire;

/// <summary>ICMPv6 message types (RFC 4443 §2.1, RFC 4861 §4; IANA "ICMPv6 Parameters"), those the codec names.</summary>
public enum Icmpv6Type : byte
{
    /// <summary>Destination unreachable.</summary>
    DestinationUnreachable = 1,
    /// <summary>Packet too big; carries the MTU (RFC 4443 §3.2).</summary>
    PacketTooBig = 2,
    /// <summary>Time exceeded.</summary>
    TimeExceeded = 3,
    /// <summary>Parameter problem.</summary>
    ParameterProblem = 4,
    /// <summary>Echo request.</summary>
    EchoRequest = 128,
    /// <summary>Echo reply.</summary>
    EchoReply = 129,
    /// <summary>Router solicitation.</summary>
    RouterSolicitation = 133,
    /// <summary>Router advertisement.</summary>
    RouterAdvertisement = 134,
    /// <summary>Neighbor solicitation (RFC 4861 §4.3).</summary>
    NeighborSolicitation = 135,
    /// <summary>Neighbor advertisement (RFC 4861 §4.4).</summary>
    NeighborAdvertisement = 136,
    /// <summary>Redirect.</summary>
    Redirect = 137,
}
