namespace OffloadEmu.Control.Status;

/// <summary>One engine loop of the daemon's target (docs/target.md, "Several link queues"): listed by a daemon running
/// more than one (<c>Nic:Queues</c> &gt; 1).</summary>
/// <param name="Connections">Offloaded connections the loop owns now (their 4-tuple hashes to it).</param>
/// <param name="FramesIn">Frames the loop processed: read on its queue and kept, or handed to it by another loop.</param>
/// <param name="FramesOut">Frames the loop sent on its queue.</param>
/// <param name="HandedOff">Frames read on the loop's queue for a connection another loop owns, handed to that loop.</param>
/// <param name="HandOffDrops">Frames the loop could not hand over (the owner's ring was full): dropped.</param>
public readonly record struct LoopStatus(int Connections, ulong FramesIn, ulong FramesOut, ulong HandedOff, ulong HandOffDrops);
