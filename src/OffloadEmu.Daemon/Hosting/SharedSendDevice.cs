using OffloadEmu.Link;
using OffloadEmu.Wire;

namespace OffloadEmu.Daemon.Hosting;

/// <summary>
/// The link stack's top device as the transmit queue of several engine loops (<c>Nic:Queues</c> &gt; 1): sends from the
/// loops are serialized (a device takes one sender at a time); receiving stays with the link service, which hands every
/// frame to the loop that owns its connection (<see cref="Target.OffloadTarget.DeliverFrames(System.ReadOnlySpan{FrameBuffer})"/>). Disposing does nothing:
/// the link stack owns the device.
/// </summary>
internal sealed class SharedSendDevice(ILinkDevice inner) : ILinkDevice
{
    private readonly Lock _send = new();

    public string Name => inner.Name;
    public MacAddress MacAddress => inner.MacAddress;
    public int Mtu => inner.Mtu;
    public ChecksumCapabilities Checksums => inner.Checksums;
    public LinkStatistics Statistics => inner.Statistics;

    public int Receive(Span<FrameBuffer> frames, int timeoutMilliseconds)
        => throw new InvalidOperationException("The link service reads the daemon's link; the target loops only send on it.");

    public int Send(ReadOnlySpan<FrameBuffer> frames)
    {
        lock (_send) return inner.Send(frames);
    }

    public void Dispose()
    {
    }

    public override string ToString() => inner.ToString() ?? inner.Name;
}
