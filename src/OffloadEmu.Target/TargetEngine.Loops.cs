using OffloadEmu.Link;
using OffloadEmu.Tcp;

namespace OffloadEmu.Target;

// One engine loop per link queue (docs/target.md, "Several link queues"): each loop owns the connections hashed to it
// (LoopHash) outright; frames read on the wrong queue are handed to the owner over a lock-free ring; tree operations
// run on loop 0 with every other loop parked (LoopBarrier).
internal sealed partial class TargetEngine
{
    private readonly Action<int> _wakeLoop;
    private HandOffRing[] _handOffIn = [];

    /// <summary>This loop's index (0 = the coordinator: tree operations, neighbours and paths, host frames).</summary>
    public int Index { get; }

    /// <summary>Every loop of the target, this one included (one element for a single-queue target).</summary>
    public TargetEngine[] Loops { get; private set; }

    /// <summary>The barrier every loop of the target shares.</summary>
    public LoopBarrier Barrier { get; }

    /// <summary>Frames this loop read for a connection another loop owns and handed over.</summary>
    public long HandedOff;

    /// <summary>Frames this loop could not hand over (the owner's ring was full): dropped, TCP recovers them.</summary>
    public long HandOffDrops;

    /// <summary>Frames this loop processed (read on its queue and kept, or handed to it by another loop). Written by the
    /// loop's thread only; read with <see cref="Volatile"/>.</summary>
    public long FramesIn;

    /// <summary>Frames this loop sent on its queue (its connections' segments, and on loop 0 the host's frames). Written
    /// by the loop's thread only.</summary>
    public long FramesOut;

    /// <summary>Wires the loops of one target together (called once, before anything runs).</summary>
    public void JoinLoops(TargetEngine[] loops)
    {
        Loops = loops;
        if (loops.Length == 1) return;
        _handOffIn = new HandOffRing[loops.Length];
        for (int i = 0; i < loops.Length; i++)
            if (i != Index) _handOffIn[i] = new HandOffRing(Options.ReceiveRingCapacity);
    }

    /// <summary>Requests that read or change more than one loop's connections, or the shared neighbour and path objects in
    /// a way the other loops could see half done.</summary>
    private static bool NeedsAllLoops(RequestKind kind) => kind is RequestKind.Initiate or RequestKind.Terminate or RequestKind.Update
        or RequestKind.Invalidate or RequestKind.Query or RequestKind.Resume or RequestKind.Snapshot;

    private bool HasHandOffs
    {
        get
        {
            foreach (var ring in _handOffIn)
                if (ring is not null && ring.Count != 0) return true;
            return false;
        }
    }

    private int DrainHandOffs(Instant now)
    {
        int work = 0;
        foreach (var ring in _handOffIn)
        {
            if (ring is null) continue;
            while (ring.TryDequeue(out var frame))
            {
                work++;
                ProcessFrame(frame, now);
                _framePool.Return(frame);
            }
        }
        return work;
    }

    /// <summary>A frame this loop owns the buffer of: handed to the loop that owns its connection when that is another
    /// loop (true; the buffer goes with it, or back to the pool when the owner's ring is full).</summary>
    private bool TryHandOff(FrameBuffer frame)
    {
        int owner = LoopHash.LoopOfFrame(frame.Span, Loops.Length);
        if (owner < 0 || owner == Index) return false;
        if (!Loops[owner]._handOffIn[Index].TryEnqueue(frame))
        {
            _framePool.Return(frame);
            Interlocked.Increment(ref HandOffDrops);
            Interlocked.Increment(ref DroppedFrames);
            return true;
        }
        Interlocked.Increment(ref HandedOff);
        Loops[owner].WakeUp?.Invoke();
        return true;
    }

    /// <summary>As <see cref="TryHandOff"/> for a frame in the device read batch: the batch slot gets a fresh buffer.</summary>
    private bool TryHandOffFromBatch(Span<FrameBuffer> batch, int i)
    {
        var frame = batch[i];
        int owner = LoopHash.LoopOfFrame(frame.Span, Loops.Length);
        if (owner < 0 || owner == Index) return false;
        if (!_framePool.TryRent(out var replacement) || !Loops[owner]._handOffIn[Index].TryEnqueue(frame))
        {
            if (replacement is not null) _framePool.Return(replacement);
            Interlocked.Increment(ref HandOffDrops);
            Interlocked.Increment(ref DroppedFrames);
            return true;
        }
        batch[i] = replacement;
        Interlocked.Increment(ref HandedOff);
        Loops[owner].WakeUp?.Invoke();
        return true;
    }
}
