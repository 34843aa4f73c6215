namespace OffloadEmu.Wire;

/// <summary>ARP operation codes (RFC 826; IANA "Operation Codes").</summary>
public enum ArpOperation : ushort
{
    /// <summary>Who has the target protocol address?</summary>
    Request = 1,
    /// <summary>The sender protocol address is at the sender hardware address.</summary>
    Reply = 2,
}
