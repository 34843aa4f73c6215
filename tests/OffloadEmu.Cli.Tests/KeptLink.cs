using OffloadEmu.Link;
using OffloadEmu.Wire;

namespace OffloadEmu.Cli.Tests;

/// <summary>A link whose Dispose does nothing, so that several runs in a row can use the same end of a MemoryLink
/// (each run disposes the device it was given).</summary>
internal sealed class KeptLink(ILinkDevice inner) : ILinkDevice
{
    public string Name => inner.Name;
    public MacAddress MacAddress => inner.MacAddress;
    public int Mtu => inner.Mtu;
    public ChecksumCapabilities Checksums => inner.Checksums;
    public LinkStatistics Statistics => inner.Statistics;
    public int Receive(Span<FrameBuffer> frames, int timeoutMilliseconds) => inner.Receive(frames, timeoutMilliseconds);
    public int Send(ReadOnlySpan<FrameBuffer> frames) => inner.Send(frames);

    public void Dispose()
    {
        // The test owns the inner link.
    }
}
