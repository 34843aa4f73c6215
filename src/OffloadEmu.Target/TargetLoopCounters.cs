namespace OffloadEmu.Target;

/// <summary>One engine loop's counters (<see cref="OffloadTarget.LoopCounters"/>; docs/target.md, "Several link queues").</summary>
/// <param name="Connections">Offloaded connections the loop owns now.</param>
/// <param name="FramesIn">Frames the loop processed: read on its queue and kept, or handed to it by another loop.</param>
/// <param name="FramesOut">Frames the loop sent on its queue.</param>
/// <param name="HandedOff">Frames read on the loop's queue for a connection another loop owns, handed to that loop.</param>
/// <param name="HandOffDrops">Frames the loop could not hand over (the owner's ring was full): dropped, TCP recovers them.</param>
public readonly record struct TargetLoopCounters(int Connections, long FramesIn, long FramesOut, long HandedOff, long HandOffDrops);
