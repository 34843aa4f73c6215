using OffloadEmu.Wire;

namespace OffloadEmu.Link.Devices;

/// <summary>How to open a Linux TAP interface.</summary>
public sealed class TapDeviceOptions
{
    /// <summary>
    /// Interface name, or a pattern containing "%d" (e.g. "oe%d") that the kernel completes with
    /// the first free number. At most 15 characters. Default "oe%d".
    /// </summary>
    public string Name { get; init; } = "oe%d";

    /// <summary>
    /// Only attach to an existing (persistent) TAP of this name; fail instead of creating one.
    /// Note that TUNSETIFF finds a device only in the caller's own network namespace.
    /// </summary>
    public bool AttachOnly { get; init; }

    /// <summary>Mark the TAP persistent (TUNSETPERSIST) so it outlives this process.</summary>
    public bool Persist { get; init; }

    /// <summary>
    /// The emulated NIC's own MAC (what <see cref="ILinkDevice.MacAddress"/> reports). Null derives a
    /// locally administered unicast MAC deterministically from the interface name.
    /// </summary>
    public MacAddress? MacAddress { get; init; }

    /// <summary>IP MTU; null reads the TAP's MTU from the kernel when it is opened.</summary>
    public int? Mtu { get; init; }

    /// <summary>
    /// Open with IFF_VNET_HDR: every frame carries a 10-byte virtio-net header, which the device
    /// strips on receive and writes as all-zero (no offload requested) on send. Off by default.
    /// </summary>
    public bool VnetHeader { get; init; }

    /// <summary>
    /// Segmentation-offload mode (implies <see cref="VnetHeader"/>): TUNSETOFFLOAD(CSUM | TSO4 | TSO6 | TSO_ECN), so the kernel
    /// hands over TCP super-frames (up to 64 KiB, checksum partial) and takes ours, which it cuts into segments of the
    /// gso_size in <see cref="FrameBuffer.Offload"/>. Receive buffers must then be <see cref="FramePool.SuperFrameBufferSize"/>
    /// bytes. Off by default (wire-sized, fully checksummed frames).
    /// </summary>
    public bool SegmentationOffload { get; init; }

    /// <summary>
    /// Open with IFF_MULTI_QUEUE: this descriptor is one queue of a multi-queue TAP (every queue of it must be opened so;
    /// a TAP created without it refuses). <see cref="TapDevice.OpenQueues"/> sets it. Off by default.
    /// </summary>
    public bool MultiQueue { get; init; }

    /// <summary>A copy with <see cref="MultiQueue"/> and the resolved <paramref name="name"/> (queues after the first).</summary>
    internal TapDeviceOptions ForQueue(string name, bool multiQueue, bool first) => new()
    {
        Name = name,
        // The queues after the first only attach: the TAP may have moved to another namespace once the first held it, and
        // a TUNSETIFF by name would then create a new, unconnected TAP of that name here.
        AttachOnly = !first || AttachOnly,
        Persist = first && Persist,
        MacAddress = MacAddress,
        Mtu = Mtu,
        VnetHeader = VnetHeader,
        SegmentationOffload = SegmentationOffload,
        MultiQueue = multiQueue,
    };
}
