using OffloadEmu.Wire;

namespace OffloadEmu.Link.Devices;

/// <summary>How to open an AF_PACKET raw socket on an interface.</summary>
public sealed class PacketSocketDeviceOptions
{
    /// <summary>The interface to bind to, in the caller's network namespace (e.g. a veth end). Required.</summary>
    public string InterfaceName { get; init; } = "";

    /// <summary>Hold the interface in promiscuous mode while open (PACKET_MR_PROMISC), so frames to a MAC
    /// other than the interface's own still arrive on NICs that filter. Default true.</summary>
    public bool Promiscuous { get; init; } = true;

    /// <summary>Override the reported MAC; null reports the interface's own MAC.</summary>
    public MacAddress? MacAddress { get; init; }

    /// <summary>IP MTU; null reads the interface MTU.</summary>
    public int? Mtu { get; init; }

    /// <summary>SO_RCVBUF/SO_SNDBUF in bytes; null keeps the kernel default.</summary>
    public int? SocketBufferBytes { get; init; }

    /// <summary>Join the socket to this PACKET_FANOUT group (hash mode: the kernel spreads received frames over the
    /// group's sockets by flow hash); null: no fanout. <see cref="PacketSocketDevice.OpenQueues"/> sets it.</summary>
    public ushort? FanoutGroup { get; init; }

    internal PacketSocketDeviceOptions WithFanout(ushort group) => new()
    {
        InterfaceName = InterfaceName,
        Promiscuous = Promiscuous,
        MacAddress = MacAddress,
        Mtu = Mtu,
        SocketBufferBytes = SocketBufferBytes,
        FanoutGroup = group,
    };
}
