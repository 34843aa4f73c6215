using System.Net.Sockets;

namespace OffloadEmu.HostStack.Tests;

/// <summary>
/// Synthetic offload (issue 5): a connection offloaded from supplied state with no handshake on the wire. The peer is a
/// TCP machine built from the mirror image of that state, so the two continue one connection whose sequence numbers,
/// windows, scales, MSS, options and timestamps the test chose.
/// </summary>
public sealed class SyntheticOffloadTests
{
    private const ushort HostPort = 40001;
    private const ushort PeerPort = 9000;
    private static readonly SeqNumber HostSeq = new(0xFFFF_F000);   // wraps within the first 4 KiB
    private static readonly SeqNumber PeerSeq = new(0x1234_5678);
    private const uint HostTs = 0x8000_0000;
    private const uint PeerTs = 0x7FFF_FF00;
    private const byte HostRcvScale = 6;
    private const byte PeerRcvScale = 7;
    private const uint HostRcvWnd = 128 * 1024;
    private const uint PeerRcvWnd = 256 * 1024;

    private static TcpConstFlags Flags => TcpConstFlags.WindowScaling | TcpConstFlags.Timestamp | TcpConstFlags.Sack;

    private static SyntheticConnection HostState(StackLab lab, TcpCachedState cached) => new()
    {
        RemoteAddress = StackLab.PeerIp,
        RemoteMac = lab.PeerSide.MacAddress,
        Const = new TcpConstState
        {
            Flags = Flags,
            LocalPort = HostPort,
            RemotePort = PeerPort,
            SndWindScale = PeerRcvScale,
            RcvWindScale = HostRcvScale,
            RemoteMss = 1460,
        },
        Cached = cached,
        Delegated = new TcpDelegatedState
        {
            State = TcpState.Established,
            RcvNxt = PeerSeq,
            RcvWnd = HostRcvWnd,
            SndUna = HostSeq,
            SndNxt = HostSeq,
            SndMax = HostSeq,
            SndWnd = PeerRcvWnd,
            MaxSndWnd = PeerRcvWnd,
            SendWL1 = PeerSeq,
            CWnd = 10 * 1448,
            SsThresh = 0x7FFF_FFFF,
            TsRecent = PeerTs,
            TsRecentAge = 0,
            TsTime = HostTs,
        },
    };

    /// <summary>The peer's half: the same connection seen from the other end.</summary>
    private static TcpMachine MirrorPeer(StackLab lab)
    {
        var addresses = TcpEndpointAddresses.Ipv4(StackLab.PeerIp, StackLab.HostIp);
        var cached = TcpMachine.Connect(lab.PeerConfig, addresses, PeerPort, HostPort, lab.Now).ExportCachedState();
        var constState = new TcpConstState
        {
            Flags = Flags,
            LocalPort = PeerPort,
            RemotePort = HostPort,
            SndWindScale = HostRcvScale,
            RcvWindScale = PeerRcvScale,
            RemoteMss = 1460,
        };
        var delegated = new TcpDelegatedState
        {
            State = TcpState.Established,
            RcvNxt = HostSeq,
            RcvWnd = PeerRcvWnd,
            SndUna = PeerSeq,
            SndNxt = PeerSeq,
            SndMax = PeerSeq,
            SndWnd = HostRcvWnd,
            MaxSndWnd = HostRcvWnd,
            SendWL1 = HostSeq,
            CWnd = 10 * 1448,
            SsThresh = 0x7FFF_FFFF,
            TsRecent = HostTs,
            TsRecentAge = 0,
            TsTime = PeerTs,
        };
        return TcpMachine.FromOffloadState(lab.PeerConfig, addresses, constState, cached, delegated, [], 0, [], lab.Now);
    }

    private static TcpCachedState HostCached(StackLab lab)
        => TcpMachine.Connect(TcpConfig.Default, TcpEndpointAddresses.Ipv4(StackLab.HostIp, StackLab.PeerIp), HostPort, PeerPort, lab.Now)
            .ExportCachedState();

    [Fact]
    public void Synthetic_offload_continues_the_mirrored_connection_byte_exact_both_ways_then_uploads_and_reoffloads()
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.Never });
        var peer = new PeerConnection(MirrorPeer(lab));
        lab.PeerConnections[(PeerPort, HostPort)] = peer;

        var result = lab.Run(lab.Stack.OffloadSyntheticAsync(HostState(lab, HostCached(lab))), TimeSpan.FromSeconds(1));
        var socket = result.Socket;
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);
        Assert.Equal((HostPort, PeerPort), (socket.LocalPort, socket.RemotePort));
        // The target's clock continues from the TsTime we supplied (no time has passed in the lab).
        Assert.Equal(HostTs, result.TargetTsTime);
        // Nothing on the wire: no ARP (the MAC was supplied), no handshake.
        Assert.Empty(lab.WireFromHost);
        Assert.Equal(1, lab.Target.ConnectionCount);

        var up = AppIo.Pattern(1024 * 1024, 40);
        var down = AppIo.Pattern(1024 * 1024, 41);
        var received = new MemoryStream();
        var write = AppIo.WriteAsync(socket, up);
        var read = AppIo.ReadAsync(socket, down.Length, 64 * 1024, received);
        peer.Send(down);
        lab.Run(write, TimeSpan.FromSeconds(60));
        lab.Run(read, TimeSpan.FromSeconds(60));
        lab.RunUntil(() => peer.Received.Length == up.Length, TimeSpan.FromSeconds(60));
        Assert.Equal(up, peer.Received.ToArray());
        Assert.Equal(down, received.ToArray());
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);

        // The first segment on the wire carried the chosen numbers: SEQ = HostSeq, ACK = PeerSeq, TSecr = PeerTs,
        // TSval from HostTs on.
        var first = FirstTcp(lab);
        Assert.Equal(HostSeq, first.SequenceNumber);
        Assert.Equal(PeerSeq, first.AckNumber);
        Assert.Equal(PeerTs, first.Options.Timestamps!.Value.TsEcr);
        Assert.True(unchecked(first.Options.Timestamps!.Value.TsVal - HostTs) < 1000u, $"TSval {first.Options.Timestamps!.Value.TsVal}");
        Assert.Equal(TcpState.Established, peer.Machine.State);
        Assert.Equal(0UL, (ulong)peer.Machine.Statistics.InErrors);

        // It is an ordinary connection from here on: upload, host mode, re-offload, still byte-exact.
        lab.Run(socket.UploadAsync());
        Assert.Equal(ConnectionLocation.Host, socket.Location);
        var more = AppIo.Pattern(200_000, 42);
        lab.Run(AppIo.WriteAsync(socket, more));
        Assert.True(lab.Run(socket.OffloadAsync()));
        var back = AppIo.Pattern(200_000, 43);
        var read2 = AppIo.ReadAsync(socket, back.Length);
        peer.Send(back);
        Assert.Equal(back, lab.Run(read2, TimeSpan.FromSeconds(60)));
        lab.RunUntil(() => peer.Received.Length == up.Length + more.Length, TimeSpan.FromSeconds(60));
        Assert.Equal(up.Concat(more).ToArray(), peer.Received.ToArray());

        lab.Run(socket.CloseAsync(), TimeSpan.FromSeconds(10));
        Assert.True(peer.Machine.State is TcpState.CloseWait, $"peer in {peer.Machine.State}");
    }

    [Fact]
    public void Segments_from_the_peer_during_the_initiate_are_forwarded_and_acknowledged()
    {
        HoldingTarget? holding = null;
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.Never }, decorate: t => holding = new HoldingTarget(t));
        var peer = new PeerConnection(MirrorPeer(lab));
        lab.PeerConnections[(PeerPort, HostPort)] = peer;
        var offload = lab.Stack.OffloadSyntheticAsync(HostState(lab, HostCached(lab)));
        lab.RunUntil(() => holding!.HeldCount == 1, TimeSpan.FromSeconds(1));

        // The peer sends while the initiate is held: the segments come up the non-offload path and wait (no RST).
        var early = AppIo.Pattern(3000, 50);
        peer.Send(early);
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.False(offload.IsCompleted);
        holding!.Release();
        var socket = lab.Run(offload, TimeSpan.FromSeconds(1)).Socket;
        Assert.Equal(early, lab.Run(AppIo.ReadAsync(socket, early.Length), TimeSpan.FromSeconds(10)));
        lab.RunUntil(() => peer.Machine.SndUna == PeerSeq + early.Length, TimeSpan.FromSeconds(5));
        Assert.True(lab.Stack.Statistics.SegmentsForwarded > 0, "nothing was forwarded");
        Assert.Equal(0, lab.Stack.Statistics.ResetsSent);
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);
    }

    [Fact]
    public void A_state_that_cannot_be_offloaded_is_refused_and_a_key_in_use_fails()
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.Never });
        var state = HostState(lab, HostCached(lab));
        var synSent = state with { Delegated = state.Delegated with { State = TcpState.SynSent } };
        lab.Run(Assert.ThrowsAsync<ArgumentException>(() => lab.Stack.OffloadSyntheticAsync(synSent)));

        lab.Run(lab.Stack.OffloadSyntheticAsync(state), TimeSpan.FromSeconds(1));
        var again = lab.Stack.OffloadSyntheticAsync(state);
        lab.RunUntil(() => again.IsCompleted, TimeSpan.FromSeconds(1));
        var error = Assert.Throws<SocketException>(() => again.GetAwaiter().GetResult());
        Assert.Equal(SocketError.AddressAlreadyInUse, error.SocketErrorCode);
        Assert.Equal(1, lab.Target.ConnectionCount);
    }

    [Fact]
    public void A_refused_initiate_fails_and_leaves_no_connection()
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.Never });
        var state = HostState(lab, HostCached(lab));
        // A receive window beyond what the receive scale can express: the target refuses the TCP block.
        var bad = state with { Delegated = state.Delegated with { RcvWnd = 0xFFFF_FFFF } };
        var task = lab.Stack.OffloadSyntheticAsync(bad);
        lab.RunUntil(() => task.IsCompleted, TimeSpan.FromSeconds(1));
        var error = Assert.Throws<SocketException>(() => task.GetAwaiter().GetResult());
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        Assert.Equal(0, lab.Stack.ConnectionCount);
        Assert.Equal(0, lab.Target.ConnectionCount);
    }

    private static TcpRepr FirstTcp(StackLab lab)
    {
        foreach (var frame in lab.WireFromHost)
        {
            if (!EthernetFrame.TryCreate(frame, out var eth) || eth.EtherType != EtherType.Ipv4) continue;
            if (!Ipv4Packet.TryCreate(eth.Payload, out var ip) || ip.Protocol != IpProtocol.Tcp) continue;
            if (!TcpSegment.TryCreate(ip.Payload, out var seg) || !TcpRepr.TryParse(seg, ip.Source, ip.Destination, out var tcp)) continue;
            return tcp;
        }
        throw new InvalidOperationException("no TCP segment from the host");
    }
}
