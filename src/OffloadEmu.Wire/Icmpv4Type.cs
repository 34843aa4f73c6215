namespace OffloadEmu.Wire;

/// <summary>ICMPv4 message types (RFC 792; IANA "ICMP Type Numbers"), those the codec names.</summary>
public enum Icmpv4Type : byte
{
    /// <summary>Echo reply.</summary>
    EchoReply = 0,
    /// <summary>Destination unreachable (see <see cref="Icmpv4UnreachableCode"/>).</summary>
    DestinationUnreachable = 3,
    /// <summary>Redirect.</summary>
    Redirect = 5,
    /// <summary>Echo request.</summary>
    EchoRequest = 8,
    /// <summary>Time exceeded (code 0 in transit, 1 reassembly).</summary>
    TimeExceeded = 11,
    /// <summary>Parameter problem.</summary>
    ParameterProblem = 12,
}
