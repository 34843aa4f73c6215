using OffloadEmu.Chimney;

namespace OffloadEmu.Target;

/// <summary>A terminate in progress: it completes once every TCP connection of its tree has drained (spec §6.6).</summary>
internal sealed class TerminateOperation(OffloadBlock root)
{
    public OffloadBlock Root { get; } = root;

    /// <summary>Connections of the tree still draining (an indication with the host).</summary>
    public int Remaining { get; set; }

    /// <summary>Frames to hand up after the completion: held urgent data and what arrived behind it (spec §6.5).</summary>
    public List<byte[]> FramesAfter { get; } = [];
}
