using OffloadEmu.Chimney;

namespace OffloadEmu.HostStack;

// Direct offloaded I/O (HostStackOptions.DirectOffloadedIo, threaded mode; docs/hoststack.md "Threads"): while an
// offloaded connection is quiet, its application writes and reads issue TcpOffloadSend / TcpOffloadReceive on the
// application's thread, and its send and receive completions are handled on the target's completion worker, without the
// engine loop in between. The per-connection IoGate (HostConnection) serialises these paths with the loop's own; the loop
// closes the gates under it before an upload, a shutdown, an abort or a failure, so every request issued through an open
// gate reaches the target before the loop's next request for the connection, in stream order.
public sealed partial class HostStack
{
    /// <summary>Loop, after a successful initiate: opens the connection's gates when nothing else is in progress.</summary>
    private void OpenIoGates(HostConnection c)
    {
        if (!DirectIo) return;
        lock (c.IoGate)
        {
            bool quiet = c.Location == ConnectionLocation.Offloaded && !c.Failed && !c.AbortRequested && c.UploadTcs is null
                && !c.Releasing;
            c.DirectSend = quiet && !c.ShutdownRequested;
            c.DirectReceive = quiet;
        }
    }

    /// <summary>Loop: from now on the connection's I/O goes through the loop (requests already issued directly were
    /// issued before this returns).</summary>
    private static void CloseIoGates(HostConnection c)
    {
        lock (c.IoGate)
        {
            c.DirectSend = false;
            c.DirectReceive = false;
        }
    }

    /// <summary>Application thread: hands the chunks of one write (<paramref name="first"/> and those linked by
    /// <see cref="SendChunk.NextWritten"/>) to the target in one <c>TcpOffloadSend</c> when the send gate is open, and
    /// unlinks them. False: the gate is closed (or sends posted earlier are still with the loop) and the caller posts
    /// each chunk to the loop, which keeps the order: direct sends wait until the loop has taken every posted chunk.</summary>
    internal bool TrySendDirect(HostConnection c, SendChunk first)
    {
        lock (c.IoGate)
        {
            if (!c.DirectSend || c.SendsQueued > 0)
            {
                for (var chunk = first; chunk is not null; chunk = chunk.NextWritten) c.SendsQueued++;
                return false;
            }
            for (var chunk = first; chunk is not null;)
            {
                var next = chunk.NextWritten;
                chunk.NextWritten = null;
                c.Pending.Enqueue(chunk);
                Statistics.CountDirectSend();
                chunk = next;
            }
            PumpOffloadedSendsLocked(c);
            return true;
        }
    }

    /// <summary>Application thread, after a read was taken or left pending: posts a receive buffer (or re-arms
    /// indications) when the receive gate is open (false: the caller asks the loop).</summary>
    internal bool TryReadDirect(HostConnection c)
    {
        lock (c.IoGate)
        {
            if (!c.DirectReceive) return false;
            MaybePostReceiveLocked(c);
            return true;
        }
    }

    /// <summary>Completion worker: handles the send completions at the head of <paramref name="chain"/> whose connection
    /// has its send gate open; returns the rest (from the first one that must go to the loop), in order.</summary>
    internal NetBufferList? CompleteSendsDirect(NetBufferList chain)
    {
        if (!DirectIo) return chain;
        var nbl = chain;
        while (nbl is not null)
        {
            // UPLOAD_IN_PROGRESS and other statuses belong to a hand-over or a failure: the loop's.
            if (nbl.ProtocolReserved is not SendChunk { Connection: { } c } chunk
                || nbl.Status is not (NdisStatus.Success or NdisStatus.RequestAborted)) return nbl;
            lock (c.IoGate)
            {
                if (!c.DirectSend) return nbl;
                var next = nbl.Next;
                nbl.Next = null;
                CompleteSendLocked(c, chunk, nbl.Status);
                Statistics.CountDirectCompletion();
                nbl = next;
            }
        }
        return null;
    }

    /// <summary>Completion worker, after the posts' data went into the queues: recycles the posts at the head of
    /// <paramref name="chain"/> whose connection has its receive gate open and posts again for a waiting read; returns
    /// the rest for the loop, in order. A post that did not succeed goes to the loop too: INVALID_STATE (posted after the
    /// disconnect indication) ends the stream, and the end must not overtake the target's events before it that the loop
    /// has not handled yet (a Retrieve, the disconnect itself): the application sees the end of stream only once the host
    /// has answered those (for a Retrieve, issued the terminate).</summary>
    internal NetBufferList? CompleteReceivesDirect(NetBufferList chain)
    {
        if (!DirectIo) return chain;
        var nbl = chain;
        while (nbl is not null)
        {
            if (nbl.ProtocolReserved is not HostConnection c || nbl.Status != NdisStatus.Success) return nbl;
            lock (c.IoGate)
            {
                if (!c.DirectReceive) return nbl;
                var next = nbl.Next;
                nbl.Next = null;
                CompleteReceiveLocked(c, nbl);
                Statistics.CountDirectCompletion();
                nbl = next;
            }
        }
        return null;
    }
}
