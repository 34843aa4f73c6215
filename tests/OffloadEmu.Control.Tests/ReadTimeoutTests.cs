using System.Diagnostics;
using OffloadEmu.Control.Protocol;
using OffloadEmu.Control.Server;
using OffloadEmu.Tcp;

namespace OffloadEmu.Control.Tests;

/// <summary>
/// Issue 8, half-written messages: a client that says hello and then stalls in the middle of a message is closed at
/// <see cref="ControlServerOptions.ReadTimeout"/> (TooSlow), its connections are aborted and its objects freed as for a
/// client that died, and the session slot it held serves a new client. Real Unix sockets against a live server.
/// </summary>
public sealed class ReadTimeoutTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static byte[] HalfMessage(MessageType type, uint payloadLength, int sent)
    {
        var bytes = new byte[ControlProtocol.HeaderSize + sent];
        ControlMessage.WriteHeader(bytes, payloadLength, type, 9);
        return bytes;
    }

    [Fact]
    public async Task A_client_stalled_mid_message_is_cut_at_the_read_timeout_its_connection_aborted_and_a_new_host_served()
    {
        var timeout = TimeSpan.FromMilliseconds(600);
        await using var lab = new LiveLab(new ControlServerOptions { MaxSessions = 2, ReadTimeout = timeout });
        await using var bound = lab.Connect(new TestHost(), "bound");
        using var stalled = new RawClient(lab.SocketPath);
        stalled.Hello();
        // The stalled client offloads a connection first: it must be aborted (RST to the peer) and freed.
        var (peer, machine) = lab.Establish(40301);
        stalled.Send(new StateRequestMessage(MessageType.InitiateOffload) { RequestId = 2, Root = lab.BuildTree(machine, 0x100, out _) });
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && (lab.Target.ConnectionCount != 1 || lab.Server.ObjectCount != 3)) await Task.Delay(10);
        Assert.Equal(1, lab.Target.ConnectionCount);
        Assert.Equal(3, lab.Server.ObjectCount);

        // Then 20 bytes of a 1000-byte send, and nothing more.
        var clock = Stopwatch.StartNew();
        stalled.Send(HalfMessage(MessageType.TcpSend, 1000, 20));
        // Both slots are taken: a new client is refused while the stalled one holds its slot.
        using (var refused = new RawClient(lab.SocketPath))
        {
            var (messages, closed) = refused.ReadUntilClosed(Wait);
            Assert.True(closed);
            Assert.Contains("too many clients", Assert.IsType<ErrorMessage>(messages[^1]).Text, StringComparison.Ordinal);
        }
        var (replies, wasClosed) = stalled.ReadUntilClosed(Wait);
        var elapsed = clock.Elapsed;
        Assert.True(wasClosed, "the stalled client was not closed");
        var error = Assert.IsType<ErrorMessage>(replies[^1]);
        Assert.Equal(ProtocolError.TooSlow, error.Code);
        Assert.Contains("stalled mid-message", error.Text, StringComparison.Ordinal);
        Assert.True(elapsed >= timeout - TimeSpan.FromMilliseconds(50), $"cut after {elapsed.TotalMilliseconds:F0} ms, before the read timeout");
        Assert.True(elapsed < timeout + TimeSpan.FromSeconds(2), $"cut only after {elapsed.TotalMilliseconds:F0} ms");

        // Freed as for a client that died: connection aborted (the peer is reset), objects uploaded.
        await lab.Server.WaitForCleanupAsync(Wait);
        end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && (lab.Target.ConnectionCount != 0 || lab.Server.ObjectCount != 0 || peer.Machine.State != TcpState.Closed))
            await Task.Delay(10);
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.Equal(0, lab.Server.ObjectCount);
        Assert.Equal(TcpState.Closed, peer.Machine.State);

        // Its slot serves a new host; the bound one was served throughout.
        await using var later = lab.Connect(new TestHost(), "later");
        Assert.True(later.IsConnected);
        Assert.Equal(NdisStatus.Success, later.SetParameters(OffloadParameters.Default));
        Assert.Equal(NdisStatus.Success, bound.SetParameters(OffloadParameters.Default));
        Assert.Equal(2, lab.Server.SessionCount);
    }

    [Fact]
    public async Task A_trickle_does_not_keep_a_message_alive_and_an_idle_client_between_messages_is_not_cut()
    {
        var timeout = TimeSpan.FromMilliseconds(500);
        await using var lab = new LiveLab(new ControlServerOptions { ReadTimeout = timeout });
        using var idle = new RawClient(lab.SocketPath);
        idle.Hello();
        using var trickle = new RawClient(lab.SocketPath);
        trickle.Hello();
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && lab.Server.SessionCount != 2) await Task.Delay(10);
        Assert.Equal(2, lab.Server.SessionCount);

        // One byte every 50 ms of a 4000-byte frame: progress, but the message is never finished.
        var message = HalfMessage(MessageType.SendFrame, 4000, 4000);
        var clock = Stopwatch.StartNew();
        int sent = 0;
        while (clock.Elapsed < timeout * 4 && lab.Server.SessionCount == 2)
        {
            trickle.Send(message.AsSpan(sent++, 1));
            await Task.Delay(50);
        }
        Assert.Equal(1, lab.Server.SessionCount);
        Assert.True(clock.Elapsed < timeout * 4, "the trickling client was not cut");
        var (replies, closed) = trickle.ReadUntilClosed(Wait);
        Assert.True(closed);
        Assert.Equal(ProtocolError.TooSlow, Assert.IsType<ErrorMessage>(replies[^1]).Code);

        // The idle client held no partial message: after four read timeouts it is still bound and answered.
        idle.Send(new QueryStatisticsMessage { RequestId = 7 });
        await Task.Delay(200);
        Assert.Equal(1, lab.Server.SessionCount);
        var (answers, idleClosed) = idle.ReadUntilClosed(TimeSpan.FromMilliseconds(300));
        Assert.False(idleClosed, "an idle client was cut");
        Assert.Contains(answers, m => m is StatisticsReplyMessage { RequestId: 7 });
    }

    [Fact]
    public async Task A_host_that_never_reads_its_indications_costs_at_most_its_receive_credit_and_its_peer_is_throttled()
    {
        // Issue 8, clients that never read: received data is bounded per connection by the receive credit
        // (MaxUnconsumedReceiveBytes), so a host that neither reads nor reports consumption gets at most that much queued;
        // the target keeps the rest, its window closes and the peer waits. The session is not closed for it (it is
        // not misbehaving on the protocol), and other clients are served.
        const int credit = 64 * 1024;
        await using var lab = new LiveLab(new ControlServerOptions { MaxUnconsumedReceiveBytes = credit });
        await using var other = lab.Connect(new TestHost(), "other");
        using var deaf = new RawClient(lab.SocketPath);
        deaf.Hello();
        var (peer, machine) = lab.Establish(40311);
        deaf.Send(new StateRequestMessage(MessageType.InitiateOffload) { RequestId = 2, Root = lab.BuildTree(machine, 0x100, out _) });
        var end = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < end && lab.Target.ConnectionCount != 1) await Task.Delay(10);
        Assert.Equal(1, lab.Target.ConnectionCount);

        lab.PeerSend(peer, Nbls.Pattern(2_000_000, 5));
        await Task.Delay(2000);   // the client reads nothing meanwhile
        Assert.Equal(2, lab.Server.SessionCount);
        Assert.Equal(NdisStatus.Success, other.SetParameters(OffloadParameters.Default));
        Assert.True(lab.PeerSendQueue(peer) > 1_500_000, $"the peer was not throttled: {lab.PeerSendQueue(peer)} bytes left to send");

        var (messages, closed) = deaf.ReadUntilClosed(TimeSpan.FromSeconds(1));
        Assert.False(closed, "the session was closed");
        long indicated = messages.OfType<ReceiveIndicateMessage>().Sum(m => (long)m.Data!.Length);
        // The credit, plus at most the one indication that may pass it while nothing is outstanding.
        Assert.InRange(indicated, 1, credit + 64 * 1024);
    }

    [Fact]
    public void A_read_timeout_out_of_range_is_refused()
    {
        Assert.Contains(new ControlServerOptions { ReadTimeout = TimeSpan.FromMilliseconds(10) }.Validate(), e => e.StartsWith("ReadTimeout", StringComparison.Ordinal));
        Assert.Empty(new ControlServerOptions().Validate());
    }
}
