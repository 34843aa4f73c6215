using OffloadEmu.HostStack;

namespace OffloadEmu.Cli.Session;

/// <summary>A command's network: the offload target from <see cref="TargetFactory"/> and a threaded
/// <see cref="HostStack"/> bound to it with the session's address, policy and ARP settings.</summary>
internal sealed class SessionHost : IDisposable
{
    /// <summary>Receive window and send buffer of the command's connections. The host stack's defaults (a 64 KiB TCP
    /// receive buffer, hence no window scaling, and 256 KiB of unacknowledged writes) cap one connection far below what
    /// the TAP carries: 64 KiB per round trip through the target, host stack and application threads. 4 MiB (window
    /// scale 7) lets the window, like Linux's autotuned one, cover several milliseconds at a few Gb/s. Embedded and
    /// through a daemon alike: a send chain of several MiB is split over control messages, and a re-offload handing over
    /// up to 4 MiB of unacknowledged sends and 4 MiB of buffered receive data goes in fragments (control protocol
    /// version 2, docs/control.md). (Between 2026-12-07 05:27 and the fragments, the daemon path kept the defaults: one
    /// initiate message above 4 MiB made the daemon close the session and the demo's hand-over transfer hung.)</summary>
    internal const int ConnectionBufferBytes = 4 << 20;

    private SessionHost(TargetSession target, HostStack.HostStack stack)
    {
        Target = target;
        Stack = stack;
    }

    public TargetSession Target { get; }

    public HostStack.HostStack Stack { get; }

    /// <summary>Opens the target and the host stack and starts both; <paramref name="beforeStart"/> runs on the stack
    /// first (listen registers its port there: a SYN that arrives at once finds it, rather than a reset).</summary>
    public static SessionHost Open(SessionSettings s, Action<HostStack.HostStack>? beforeStart = null)
    {
        var target = TargetFactory.Open(s);
        try
        {
            var defaults = new HostStackOptions();
            var stack = new HostStack.HostStack(target.Target, new HostStackOptions
            {
                Address = s.Address,
                PrefixLength = s.PrefixLength,
                Gateway = s.Gateway,
                OffloadPolicy = s.Offload.Policy,
                OffloadAfterBytes = s.Offload.Policy == OffloadPolicy.AfterBytes ? s.Offload.AfterBytes : 64 * 1024,
                ArpMaxRequests = s.ArpTries,
                Tcp = defaults.Tcp with { ReceiveBufferSize = ConnectionBufferBytes },
                ReceiveBufferSize = ConnectionBufferBytes,
                SendBufferSize = ConnectionBufferBytes,
                // The CLI's transfers never block a thread on the stack's I/O: a read's continuation may run on the
                // completion worker that delivered its data (one thread-pool hand-off less per read).
                InlineReadCompletions = true,
            });
            beforeStart?.Invoke(stack);
            target.Start();
            stack.Start();
            return new SessionHost(target, stack);
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    /// <summary>Segments the target retransmitted so far (all its offloaded connections).</summary>
    public ulong TargetRetransmits => Target.Target.QueryTcpStatistics(false).RetransmittedSegments;

    /// <summary>Super-segments sent and super-frames received by an embedded target in segmentation-offload mode (null:
    /// not in that mode, or a daemon's target).</summary>
    public (long Out, long In)? SuperFrames
        => Target.Target is Target.OffloadTarget { SegmentationOffload: true } t ? (t.SuperFramesOut, t.SuperFramesIn) : null;

    /// <summary>Stops the host stack, then the target and its link (the capture is flushed and closed).</summary>
    public void Dispose()
    {
        Stack.Dispose();
        Target.Dispose();
    }
}
