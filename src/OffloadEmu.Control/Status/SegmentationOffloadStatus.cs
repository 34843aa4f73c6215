namespace OffloadEmu.Control.Status;

/// <summary>The daemon's segmentation-offload mode (<c>Link:SegmentationOffload</c>, docs/target.md "Segmentation
/// offload") and its super-frame counters: sent as protocol version 4's last StatusInfo section (docs/control.md).</summary>
/// <param name="Enabled">The link runs in segmentation-offload mode (the counters stay 0 when it does not).</param>
/// <param name="LinkSuperFramesIn">GSO frames the device received, longer than one segment, as the kernel handed them
/// (<c>LinkStatistics.SuperFramesIn</c>, every queue).</param>
/// <param name="LinkSuperFramesOut">GSO frames the device sent for the kernel to cut (<c>LinkStatistics.SuperFramesOut</c>).</param>
/// <param name="TargetSuperFramesIn">Super-frames the target processed whole for offloaded connections
/// (<c>OffloadTarget.SuperFramesIn</c>).</param>
/// <param name="TargetSuperFramesOut">Super-segments (more than one segment) the target emitted
/// (<c>OffloadTarget.SuperFramesOut</c>).</param>
public readonly record struct SegmentationOffloadStatus(bool Enabled, ulong LinkSuperFramesIn, ulong LinkSuperFramesOut,
    ulong TargetSuperFramesIn, ulong TargetSuperFramesOut);
