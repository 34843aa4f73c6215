using System.Buffers.Binary;

namespace OffloadEmu.Wire;

/// <summary>An IPv4-over-Ethernet ARP request or reply.</summary>
/// <remarks>RFC 826 ("Packet format"); gratuitous ARP (RFC 5227 §3) is a request whose sender and
/// target protocol addresses are equal and is represented unchanged.</remarks>
public readonly struct ArpRepr : IEquatable<ArpRepr>
{
    /// <summary>Creates a representation.</summary>
    public ArpRepr(ArpOperation operation, MacAddress senderHardwareAddress, Ipv4Address senderProtocolAddress,
        MacAddress targetHardwareAddress, Ipv4Address targetProtocolAddress)
    {
        Operation = operation;
        SenderHardwareAddress = senderHardwareAddress;
        SenderProtocolAddress = senderProtocolAddress;
        TargetHardwareAddress = targetHardwareAddress;
        TargetProtocolAddress = targetProtocolAddress;
    }

    /// <summary>Request or reply.</summary>
    public ArpOperation Operation { get; }
    /// <summary>Sender hardware address.</summary>
    public MacAddress SenderHardwareAddress { get; }
    /// <summary>Sender protocol address.</summary>
    public Ipv4Address SenderProtocolAddress { get; }
    /// <summary>Target hardware address.</summary>
    public MacAddress TargetHardwareAddress { get; }
    /// <summary>Target protocol address.</summary>
    public Ipv4Address TargetProtocolAddress { get; }

    /// <summary>Bytes <see cref="Emit"/> writes (28).</summary>
    public int BufferLength => ArpPacket.Length;

    /// <summary>Accepts Ethernet/IPv4 requests and replies; anything else is <see cref="WireError.Unsupported"/>.</summary>
    public static bool TryParse(in ArpPacket packet, out ArpRepr repr, out WireError error)
    {
        repr = default;
        if (packet.HardwareType != ArpPacket.HardwareTypeEthernet || packet.ProtocolType != EtherType.Ipv4)
        {
            error = WireError.Unsupported;
            return false;
        }
        var op = packet.Operation;
        if (op != ArpOperation.Request && op != ArpOperation.Reply) { error = WireError.Unsupported; return false; }
        repr = new ArpRepr(op, packet.SenderHardwareAddress, packet.SenderProtocolAddress,
            packet.TargetHardwareAddress, packet.TargetProtocolAddress);
        error = WireError.None;
        return true;
    }

    /// <summary>Parses without reporting the error.</summary>
    public static bool TryParse(in ArpPacket packet, out ArpRepr repr) => TryParse(packet, out repr, out _);

    /// <summary>Writes the 28-byte packet into the start of <paramref name="buffer"/>.</summary>
    /// <exception cref="ArgumentException">The buffer is shorter than <see cref="BufferLength"/>.</exception>
    public void Emit(Span<byte> buffer)
    {
        if (buffer.Length < ArpPacket.Length) ThrowHelper.BufferTooSmall(ArpPacket.Length, buffer.Length);
        BinaryPrimitives.WriteUInt16BigEndian(buffer, ArpPacket.HardwareTypeEthernet);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[2..], (ushort)EtherType.Ipv4);
        buffer[4] = MacAddress.Length;
        buffer[5] = Ipv4Address.Length;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[6..], (ushort)Operation);
        SenderHardwareAddress.Write(buffer[8..]);
        SenderProtocolAddress.Write(buffer[14..]);
        TargetHardwareAddress.Write(buffer[18..]);
        TargetProtocolAddress.Write(buffer[24..]);
    }

    /// <inheritdoc/>
    public bool Equals(ArpRepr other)
        => Operation == other.Operation && SenderHardwareAddress == other.SenderHardwareAddress
           && SenderProtocolAddress == other.SenderProtocolAddress && TargetHardwareAddress == other.TargetHardwareAddress
           && TargetProtocolAddress == other.TargetProtocolAddress;
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is ArpRepr r && Equals(r);
    /// <inheritdoc/>
    public override int GetHashCode()
        => HashCode.Combine(Operation, SenderHardwareAddress, SenderProtocolAddress, TargetHardwareAddress, TargetProtocolAddress);
    /// <summary>Equality.</summary>
    public static bool operator ==(ArpRepr a, ArpRepr b) => a.Equals(b);
    /// <summary>Inequality.</summary>
    public static bool operator !=(ArpRepr a, ArpRepr b) => !a.Equals(b);
}
