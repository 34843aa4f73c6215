using System.Buffers;
using System.Diagnostics;
using OffloadEmu.Link.Capture;
using OffloadEmu.Control.Client;
using OffloadEmu.Control.Protocol;
using OffloadEmu.Control.Server;
using OffloadEmu.Control.Status;
using OffloadEmu.Target;

namespace OffloadEmu.Control.Tests;

/// <summary>QueryStatus/StatusInfo (docs/control.md): the snapshot's fields survive the wire, a monitor session sees
/// every host session's connections under their owners' handles with the target's live sequence numbers, and a monitor
/// receives nothing and may change nothing.</summary>
public sealed class StatusTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public void StatusInfo_keeps_every_field_of_the_snapshot_across_the_wire()
    {
        for (int seed = 0; seed < 50; seed++)
        {
            var original = new RandomMessages(seed).Status();
            var bytes = new StatusInfoMessage { Snapshot = original, RequestId = 9 }.ToArray();
            var seq = new ReadOnlySequence<byte>(bytes);
            Assert.True(ControlMessage.TryReadFrame(ref seq, int.MaxValue, out var type, out _, out var payload));
            var decoded = ((StatusInfoMessage)ControlMessage.Decode(type, 9, payload)).Snapshot;
            Assert.Equal(original.Status, decoded.Status);
            Assert.Equal(original.DaemonVersion, decoded.DaemonVersion);
            Assert.Equal(original.Uptime, decoded.Uptime);
            Assert.Equal(original.TakenAt, decoded.TakenAt);
            Assert.Equal(original.Link with { Drops = [] }, decoded.Link with { Drops = [] });
            Assert.Equal(original.Link.Drops, decoded.Link.Drops);
            Assert.Equal(original.Capabilities, decoded.Capabilities);
            Assert.Equal(original.Parameters, decoded.Parameters);
            Assert.Equal((original.FramesUp, original.DroppedFrames), (decoded.FramesUp, decoded.DroppedFrames));
            Assert.Equal((original.TcpIpv4, original.TcpIpv6, original.IpIpv4, original.IpIpv6), (decoded.TcpIpv4, decoded.TcpIpv6, decoded.IpIpv4, decoded.IpIpv6));
            Assert.Equal(original.Sessions, decoded.Sessions);
            Assert.Equal(original.Connections, decoded.Connections); // ConnectionStatus is a record of values
            Assert.Equal(original.ConnectionsTotal, decoded.ConnectionsTotal);
            Assert.Equal(original.ConnectionsTotal - original.Connections.Count, decoded.ConnectionsOmitted);
        }
    }

    [Fact]
    public void A_connection_total_below_the_connections_listed_is_malformed()
    {
        int seed = 3;
        var snapshot = new RandomMessages(seed).Status();
        while (snapshot.Connections.Count == 0) snapshot = new RandomMessages(++seed).Status();
        var bytes = new StatusInfoMessage { Snapshot = snapshot with { ConnectionsTotal = snapshot.Connections.Count } }.ToArray();
        // The total sits just before the listed count; write one less than the count there.
        int countAt = FindCountOffset(bytes, snapshot);
        BitConverter.TryWriteBytes(bytes.AsSpan(countAt - 4), (uint)(snapshot.Connections.Count - 1));
        var ex = Assert.Throws<ControlProtocolException>(() => ControlMessage.Decode(MessageType.StatusInfo, 1,
            new ReadOnlySequence<byte>(bytes, ControlProtocol.HeaderSize, bytes.Length - ControlProtocol.HeaderSize)));
        Assert.Equal(ProtocolError.Malformed, ex.Error);
    }

    // The offset of the connection count: the payload without its connections ends with total, count.
    private static int FindCountOffset(byte[] bytes, StatusSnapshot s)
    {
        var without = new StatusInfoMessage { Snapshot = s with { Connections = [], ConnectionsTotal = s.Connections.Count } }.ToArray();
        return without.Length - 4;
    }

    [Fact]
    public async Task A_monitor_sees_a_host_sessions_connection_under_its_handle_with_the_targets_live_sequence_numbers()
    {
        LiveLab? labRef = null;
        await using var lab = labRef = new LiveLab(new ControlServerOptions { StatusSource = (max, ct) => Source(labRef!.Target, max, ct) });
        var host = new TestHost();
        await using var client = lab.Connect(host, "the host");
        var (peer, machine) = lab.Establish(40501);
        var root = lab.BuildTree(machine, 0x700, out var tcp);
        client.InitiateOffload(root);
        Assert.True(host.WaitFor(h => h.Initiated.Contains(root), Wait));
        lab.PeerSend(peer, Nbls.Pattern(5000, 2));
        Assert.True(host.WaitFor(h => h.Received.Length == 5000, Wait));
        host.ReturnAccepted();

        await using var monitor = await RemoteOffloadTarget.ConnectAsync(lab.SocketPath, new RemoteOffloadTargetOptions { ClientName = "watcher", Role = ClientRole.Monitor });
        var status = await monitor.QueryStatusAsync();
        Assert.Equal(NdisStatus.Success, status.Status);
        var session = Assert.Single(status.Sessions); // the host; the monitor is not a bound session
        Assert.Equal("the host", session.Name);
        Assert.Equal(3, session.Objects);
        var c = Assert.Single(status.Connections);
        Assert.Equal(tcp.NdisOffloadHandle, c.Handle); // the client's own handle, not the server's
        Assert.Equal(session.Id, c.SessionId);
        Assert.Equal(tcp.MiniportOffloadContext!.Context, c.Context);
        Assert.Equal(TcpState.Established, c.State);
        var (peerSndNxt, peerRcvNxt) = lab.PeerSequence(peer);
        Assert.Equal(peerSndNxt, c.RcvNxt); // 5000 bytes in: the target has taken all the peer sent
        Assert.Equal(peerRcvNxt, c.SndNxt);
        Assert.Equal(machine.Iss + 1, c.SndUna); // nothing sent by the host yet
        Assert.Equal(LiveLab.RemotePort, c.RemotePort);
        Assert.Equal(1UL, status.TcpIpv4.CurrentlyEstablished);
        Assert.True(status.TcpIpv4.InSegments >= 4);
        Assert.Equal(lab.Target.MacAddress, status.Link.MacAddress);

        var capped = await monitor.QueryStatusAsync(maxConnections: 0);
        Assert.Empty(capped.Connections);
        Assert.Equal(1, capped.ConnectionsTotal);
        Assert.Equal(1, capped.ConnectionsOmitted);
    }

    [Fact]
    public async Task A_monitor_receives_no_frames_or_adapter_status_and_is_closed_when_it_tries_to_change_something()
    {
        await using var lab = new LiveLab();
        var host = new TestHost();
        await using var client = lab.Connect(host, "host");
        var watcherHost = new TestHost();
        await using var monitor = await RemoteOffloadTarget.ConnectAsync(lab.SocketPath, new RemoteOffloadTargetOptions { ClientName = "watcher", Role = ClientRole.Monitor });
        monitor.Bind(watcherHost);

        var frame = new byte[60];
        MacAddress.Broadcast.Write(frame);
        lab.PeerSide.MacAddress.Write(frame.AsSpan(6));
        frame[12] = 0x08;
        frame[13] = 0x06;
        lab.InjectFrame(frame);
        lab.Target.IndicatePause();
        lab.Target.IndicateResume();
        Assert.True(host.WaitFor(h => h.Frames.Count == 1 && h.Statuses.Count == 2, Wait));
        // Without a status source the answer is NOT_SUPPORTED with what the server itself knows.
        var status = await monitor.QueryStatusAsync();
        Assert.Equal(NdisStatus.NotSupported, status.Status);
        Assert.Equal("host", Assert.Single(status.Sessions).Name);
        Assert.Equal(lab.Target.Mtu, status.Link.Mtu);
        Assert.Equal(0, watcherHost.Locked(h => h.Frames.Count + h.Statuses.Count));
        Assert.True(monitor.QueryTcpStatistics(false).InSegments >= 0); // queries are allowed

        var before = lab.Target.CurrentParameters;
        Assert.Equal(NdisStatus.Failure, monitor.SetParameters(OffloadParameters.ForTicksPerSecond(100)));
        Assert.Equal(ProtocolError.NotPermitted, monitor.CloseError);
        Assert.Equal(before, lab.Target.CurrentParameters);
        Assert.True(client.IsConnected);
        Assert.Equal(NdisStatus.Success, client.SetParameters(before));
    }

    [Fact]
    public async Task The_lua_dissector_shows_a_monitors_hello_QueryStatus_and_the_StatusInfo_connection_fields()
    {
        var dir = Path.Combine(Path.GetTempPath(), "oe-stcap-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "control.pcapng");
        try
        {
            var writer = new PcapNgWriter(File.Create(file));
            int index = writer.AddInterface("control", ExportedPdu.LinkType);
            SeqNumber sndNxt;
            ulong context;
            LiveLab? labRef = null;
            await using (var lab = labRef = new LiveLab(new ControlServerOptions
            {
                Observer = new Observer(writer, index), StatusSource = (max, ct) => Source(labRef!.Target, max, ct),
            }))
            {
                var host = new TestHost();
                await using var client = lab.Connect(host, "captured host");
                var (_, machine) = lab.Establish(41501);
                var root = lab.BuildTree(machine, 0x300, out var tcp);
                client.InitiateOffload(root);
                Assert.True(host.WaitFor(h => h.Initiated.Contains(root), Wait));
                context = tcp.MiniportOffloadContext!.Context;
                await using var monitor = await RemoteOffloadTarget.ConnectAsync(lab.SocketPath, new RemoteOffloadTargetOptions { ClientName = "watcher", Role = ClientRole.Monitor });
                sndNxt = Assert.Single((await monitor.QueryStatusAsync(100)).Connections).SndNxt;
                await Task.Delay(100);
            }
            writer.Dispose();
            if (Environment.GetEnvironmentVariable("OFFLOADEMU_SKIP_TSHARK") == "1" && !File.Exists("/usr/bin/tshark")) return;
            var script = Path.Combine(RepoRoot(), "scripts", "wireshark", "offloademu.lua");
            var psi = new ProcessStartInfo("tshark", ["-X", "lua_script:" + script, "-r", file, "-Y", $"offloademu.conn.snd_nxt == {sndNxt.Value}",
                "-T", "fields", "-e", "_ws.col.Info", "-e", "offloademu.context", "-e", "offloademu.conn.local", "-e", "offloademu.conn.state"])
            {
                RedirectStandardOutput = true, RedirectStandardError = true,
            };
            using var tshark = Process.Start(psi)!;
            string output = await tshark.StandardOutput.ReadToEndAsync();
            string errors = await tshark.StandardError.ReadToEndAsync();
            await tshark.WaitForExitAsync();
            Assert.True(tshark.ExitCode == 0, errors);
            string line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Matches(@"^S->C StatusInfo id=\d+ +, 1 sessions, 1 connections\t", line);
            Assert.Contains($"0x{context:x16}", line, StringComparison.OrdinalIgnoreCase);
            Assert.Contains($"{LiveLab.HostIp}:41501", line, StringComparison.Ordinal);
            Assert.EndsWith("\t4", line, StringComparison.Ordinal); // Established

            psi.ArgumentList[5] = "offloademu";
            using var all = Process.Start(psi)!;
            string everything = await all.StandardOutput.ReadToEndAsync();
            await all.WaitForExitAsync();
            Assert.True(everything.Contains("C->S Hello id=1 watcher (Monitor)", StringComparison.Ordinal), everything);
            Assert.True(everything.Contains("C->S Hello id=1 captured host (Host)", StringComparison.Ordinal), everything);
            Assert.Matches(@"C->S QueryStatus id=\d+ max 100", everything);
            Assert.DoesNotContain("Malformed", everything, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private sealed class Observer(PcapNgWriter writer, int index) : IControlMessageObserver
    {
        public void OnMessage(long sessionId, bool fromClient, ReadOnlySpan<byte> message)
            => writer.WriteFrame(index, DateTime.UtcNow.Ticks * 100, ExportedPdu.Wrap(sessionId, fromClient, message),
                fromClient ? CaptureDirection.Inbound : CaptureDirection.Outbound);
    }

    private static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "OffloadEmu.sln"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("repository root not found");
    }

    private static async Task<StatusSnapshot> Source(OffloadTarget target, int max, CancellationToken ct)
    {
        var (list, total) = await target.SnapshotConnectionsAsync(max, ct);
        return new StatusSnapshot
        {
            TakenAt = DateTimeOffset.UtcNow, ConnectionsTotal = total,
            Connections = [.. list.Select(c => new ConnectionStatus
            {
                Context = c.Context, Handle = c.Handle, LocalAddress = c.LocalAddress, LocalPort = c.LocalPort, RemoteAddress = c.RemoteAddress,
                RemotePort = c.RemotePort, State = c.State, SndUna = c.SndUna, SndNxt = c.SndNxt, SndMax = c.SndMax, RcvNxt = c.RcvNxt,
            })],
        };
    }
}
