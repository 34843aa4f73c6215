using OffloadEmu.Chimney;
using OffloadEmu.Control.Protocol;
using OffloadEmu.Control.Status;

namespace OffloadEmu.Control.Server;

/// <summary>
/// Answers QueryStatus (docs/control.md): the status source (the daemon: version, link, connections taken on the
/// target's engine thread) gives the snapshot; the server adds what only it knows — the target's capabilities and
/// statistics, the bound sessions, and which session owns each connection under which of its own handles.
/// </summary>
internal static class StatusResponder
{
    /// <summary>How long the source may take (the target's engine answers between two rounds).</summary>
    internal static readonly TimeSpan SourceTimeout = TimeSpan.FromSeconds(3);

    public static async Task AnswerAsync(ControlSession session, TargetMultiplexer mux, ControlServerOptions options, QueryStatusMessage query)
    {
        try
        {
            int max = (int)Math.Min(query.MaxConnections, (uint)StatusInfoMessage.MaxConnections);
            StatusSnapshot snapshot;
            if (options.StatusSource is { } source)
            {
                try
                {
                    using var timeout = new CancellationTokenSource(SourceTimeout);
                    snapshot = await source(max, timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    snapshot = new StatusSnapshot { Status = NdisStatus.Failure };
                }
            }
            else
            {
                snapshot = new StatusSnapshot { Status = NdisStatus.NotSupported, TakenAt = DateTimeOffset.UtcNow };
            }
            session.Send(new StatusInfoMessage { RequestId = query.RequestId, Snapshot = Complete(snapshot, mux),
                IncludeLoops = session.Version >= ControlProtocol.LoopStatusVersion,
                IncludeSuperFrames = session.Version >= ControlProtocol.SuperFrameStatusVersion });
        }
        catch (Exception ex)
        {
            session.Fail(ex);
        }
    }

    private static StatusSnapshot Complete(StatusSnapshot s, TargetMultiplexer mux)
    {
        var target = mux.Target;
        var sessions = new List<SessionStatus>();
        foreach (var host in mux.Sessions)
            if (!host.IsClosed) sessions.Add(new SessionStatus((ulong)host.Id, host.Name, host.ObjectCount));
        sessions.Sort(static (a, b) => a.Id.CompareTo(b.Id));
        var connections = new List<ConnectionStatus>(s.Connections.Count);
        foreach (var c in s.Connections)
        {
            // The target knows the server's handle; the owner knows the connection by its own.
            connections.Add(mux.TryGetEntry(c.Handle, out var entry)
                ? c with { Handle = entry.ClientHandle, SessionId = (ulong)entry.Session.Id }
                : c);
        }
        var link = s.Link;
        if (link.Mtu == 0) link = link with { MacAddress = target.MacAddress, Mtu = target.Mtu };
        return s with
        {
            Capabilities = target.CurrentCapabilities, Sessions = sessions, Connections = connections, Link = link,
            TcpIpv4 = target.QueryTcpStatistics(false), IpIpv4 = target.QueryIpStatistics(false),
            TcpIpv6 = target.QueryTcpStatistics(true), IpIpv6 = target.QueryIpStatistics(true),
            ConnectionsTotal = Math.Max(s.ConnectionsTotal, connections.Count),
        };
    }
}
