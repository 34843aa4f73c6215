using OffloadEmu.HostStack;

namespace OffloadEmu.Cli.Session;

/// <summary>A command's network: the offload target from <see cref="TargetFactory"/> and a threaded
/// <see cref="HostStack"/> bound to it with the session's address, policy and ARP settings.</summary>
internal sealed class SessionHost : IDisposable
{
    /// <summary>Receive window and send buffer of the command's connections. The host stack's defaults (a 64 KiB TCP
    /// receive buffer, hence no window scaling, and 256 KiB of unacknowledged writes) cap one connection far below what
    /// the TAP carries: 64 KiB per round trip through the target, host stack and application threads. 4 MiB (window
    /// scale 7) lets the window, like Linux's autotuned one, cover several milliseconds at a few Gb/s. Embedded targets
    /// only: through a daemon the host stack's defaults stay. A send chain of several MiB is split over messages now, but
    /// an initiate (re-offload) carries the connection's unacknowledged send data and buffered receive data in one
    /// message, and with 4 MiB buffers that can pass the protocol's 4 MiB limit: the session is closed (seen in CI,
    /// the demo's hand-over every 4 MiB).</summary>
    internal const int ConnectionBufferBytes = 4 << 20;

    private SessionHost(TargetSession target, HostStack.HostStack stack)
    {
        Target = target;
        Stack = stack;
    }

    public TargetSession Target { get; }

    public HostStack.HostStack Stack { get; }

    public static SessionHost Open(SessionSettings s)
    {
        var target = TargetFactory.Open(s);
        try
        {
            var defaults = new HostStackOptions();
            bool embedded = s.Link is not null;
            var stack = new HostStack.HostStack(target.Target, new HostStackOptions
            {
                Address = s.Address,
                PrefixLength = s.PrefixLength,
                Gateway = s.Gateway,
                OffloadPolicy = s.Offload.Policy,
                OffloadAfterBytes = s.Offload.Policy == OffloadPolicy.AfterBytes ? s.Offload.AfterBytes : 64 * 1024,
                ArpMaxRequests = s.ArpTries,
                Tcp = embedded ? defaults.Tcp with { ReceiveBufferSize = ConnectionBufferBytes } : defaults.Tcp,
                ReceiveBufferSize = embedded ? ConnectionBufferBytes : defaults.ReceiveBufferSize,
                SendBufferSize = embedded ? ConnectionBufferBytes : defaults.SendBufferSize,
            });
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

    /// <summary>Stops the host stack, then the target and its link (the capture is flushed and closed).</summary>
    public void Dispose()
    {
        Stack.Dispose();
        Target.Dispose();
    }
}
