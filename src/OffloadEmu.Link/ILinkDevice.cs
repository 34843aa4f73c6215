using OffloadEmu.Wire;

namespace OffloadEmu.Link;

/// <summary>
/// A link that moves whole Ethernet frames (destination MAC first, no FCS). Implementations: TAP,
/// AF_PACKET, libpcap/Npcap, in-memory; decorators wrap any of them. One thread receives and one
/// thread sends at a time (a device may be used by a receive loop and a send loop concurrently).
/// </summary>
public interface ILinkDevice : IDisposable
{
    /// <summary>Interface name, e.g. "oe0".</summary>
    string Name { get; }

    /// <summary>The MAC address this side of the link uses as its own.</summary>
    MacAddress MacAddress { get; }

    /// <summary>IP MTU of the link (1500 for Ethernet): the largest frame is Mtu + 14 (+4 with a VLAN tag).</summary>
    int Mtu { get; }

    /// <summary>What the device checks or fills in for us.</summary>
    ChecksumCapabilities Checksums { get; }

    /// <summary>Counters, updated by the device; read at any time.</summary>
    LinkStatistics Statistics { get; }

    /// <summary>
    /// Receives up to <c>frames.Length</c> frames into the caller's rented buffers, waiting at most
    /// <paramref name="timeoutMilliseconds"/> for the first one (0 = poll, -1 = wait forever).
    /// Returns how many buffers were filled (their <see cref="FrameBuffer.Length"/> and timestamp set).
    /// </summary>
    /// <exception cref="LinkDeviceException">The device failed and cannot go on.</exception>
    int Receive(Span<FrameBuffer> frames, int timeoutMilliseconds);

    /// <summary>
    /// Sends the frames in order. Frames the device could not send are counted as drops in
    /// <see cref="Statistics"/>, never thrown; the caller keeps ownership of the buffers.
    /// Returns how many were handed to the device.
    /// </summary>
    /// <exception cref="LinkDeviceException">The device failed and cannot go on.</exception>
    int Send(ReadOnlySpan<FrameBuffer> frames);
}
