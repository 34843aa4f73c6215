using OffloadEmu.Chimney;
using OffloadEmu.TestSupport;

namespace OffloadEmu.Daemon.Tests;

/// <summary>A host bound over the control socket that only keeps the frames of the non-offload path (when given a
/// list) and refuses indications; everything else it ignores.</summary>
internal sealed class FrameHost(List<byte[]>? frames = null) : NullOffloadHost
{
    public override void ReceiveFrame(ReadOnlySpan<byte> frame)
    {
        if (frames is null) return;
        lock (frames) frames.Add(frame.ToArray());
    }
}
