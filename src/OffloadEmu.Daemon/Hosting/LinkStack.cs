using OffloadEmu.Link;
using OffloadEmu.Link.Decorators;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// The opened device stack, outermost first: Tracing over Capture over Impairment over the device.
/// Disposing <see cref="Top"/> disposes every layer inward (each decorator owns its inner device),
/// which flushes and closes the capture before the device is closed.
/// </summary>
internal sealed class LinkStack
{
    internal LinkStack(ILinkDevice top, ILinkDevice device, CaptureDevice? capture, MemoryLink? memoryPeer, string description)
    {
        Top = top;
        Device = device;
        Capture = capture;
        MemoryPeer = memoryPeer;
        Description = description;
    }

    /// <summary>The device the receive loop and the sink use.</summary>
    internal ILinkDevice Top { get; }

    /// <summary>The device at the bottom (its statistics are shared by every layer): the <see cref="Supervisor"/> over
    /// the real device, or the memory link itself.</summary>
    internal ILinkDevice Device { get; }

    /// <summary>Survives the loss of the real device (tap, packet, pcap; null for memory).</summary>
    internal SupervisedDevice? Supervisor { get; init; }

    /// <summary>The capture layer, if any.</summary>
    internal CaptureDevice? Capture { get; }

    /// <summary>For <see cref="Options.LinkKind.Memory"/>: the other end of the cable (the test's or demo's side).</summary>
    internal MemoryLink? MemoryPeer { get; }

    /// <summary>"tap oe0 (02:..., peer ..., mtu 1500)" and the like, for the start line.</summary>
    internal string Description { get; }
}
