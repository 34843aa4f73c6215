namespace OffloadEmu.HostStack.Tests;

/// <summary>RFC 1191 / spec §6.7: an ICMP fragmentation-needed message shrinks the segments, in host mode at once and
/// offloaded through UpdateOffload of the path's cached PathMtu.</summary>
public sealed class PathMtuTests
{
    [Theory]
    [InlineData(OffloadPolicy.Never)]
    [InlineData(OffloadPolicy.AfterHandshake)]
    public void FragmentationNeeded_ShrinksTheSegments_AndTheStreamStaysExact(OffloadPolicy policy)
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = policy });
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(policy == OffloadPolicy.Never ? ConnectionLocation.Host : ConnectionLocation.Offloaded, socket.Location);
        var data = AppIo.Pattern(600_000, 130);
        var write = AppIo.WriteAsync(socket, data);
        lab.RunUntil(() => peer.Received.Length > 100_000, TimeSpan.FromSeconds(10));
        Assert.Contains(lab.WireFromHost, f => f.Length > 1400); // full-size segments so far

        // A router on the path reports an MTU of 1000 for a packet of ours.
        lab.Inject(FragmentationNeeded(lab, mtu: 1000, socket.LocalPort));
        long expectedUpdates = policy == OffloadPolicy.Never ? 0 : 1;
        lab.RunUntil(() => lab.Stack.Statistics.PathMtuDecreases == 1 && lab.Stack.Statistics.PathUpdatesCompleted == expectedUpdates,
            TimeSpan.FromSeconds(5));
        int mark = lab.WireFromHost.Count;
        lab.Run(write);
        lab.RunUntil(() => peer.Received.Length == data.Length, TimeSpan.FromSeconds(30));
        Assert.Equal(data, peer.Received.ToArray());
        var after = lab.WireFromHost.Skip(mark).ToList();
        Assert.True(after.Count > 100);
        Assert.All(after, f => Assert.True(f.Length <= 14 + 1000, $"a {f.Length}-byte frame after the MTU dropped to 1000"));

        // A larger value never raises it again (only decreases are taken).
        lab.Inject(FragmentationNeeded(lab, mtu: 1400, socket.LocalPort));
        lab.RunFor(TimeSpan.FromMilliseconds(5));
        Assert.Equal(1, lab.Stack.Statistics.PathMtuDecreases);
    }

    private static byte[] FragmentationNeeded(StackLab lab, ushort mtu, ushort localPort)
    {
        // The quote: our IPv4 header (host -> peer, TCP) and the first 8 bytes of the TCP header.
        var quote = new byte[28];
        new Ipv4Repr(StackLab.HostIp, StackLab.PeerIp, IpProtocol.Tcp, 1480, 64, 1, dontFragment: true).Emit(quote);
        quote[20] = (byte)(localPort >> 8);
        quote[21] = (byte)localPort;
        quote[23] = 7;
        var icmp = Icmpv4Repr.FragmentationNeeded(mtu, quote.Length);
        var bytes = new byte[icmp.BufferLength];
        icmp.Emit(bytes, quote);
        return lab.FrameFromPeer(IpProtocol.Icmp, bytes);
    }
}
