using OffloadEmu.Daemon.Hosting;
using OffloadEmu.Link;

namespace OffloadEmu.Daemon.Tests;

/// <summary>A sink whose receive path fails, as a broken target would.</summary>
internal sealed class ThrowingFrameSink : IFrameSink
{
    public void Attach(ILinkDevice device, FramePool pool)
    {
    }

    public void OnReceived(Span<FrameBuffer> frames) => throw new InvalidOperationException("target failed");

    public Task DrainAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Detach()
    {
    }
}
