namespace OffloadEmu.HostStack.Tests;

/// <summary>
/// Spec §4 case 3 and §6.5: IPv4 fragments and datagrams with options go up the non-offload path; the host reassembles
/// (RFC 791) and forwards the segments of offloaded connections to the target (TCP header first), or processes them in
/// host mode. The reassembler itself is bounded against hostile fragment streams.
/// </summary>
public sealed class FragmentationTests
{
    private static readonly Ipv4Address Src = new(198, 18, 0, 1), Dst = new(198, 18, 0, 2);

    private static Ipv4Repr Fragment(ushort id, int offset, int length, bool more)
        => new(Src, Dst, IpProtocol.Tcp, length, 64, id, moreFragments: more, fragmentOffset: offset);

    private static byte[] Pattern(int n, int seed) => AppIo.Pattern(n, seed);

    [Fact]
    public void Reassembler_joins_fragments_in_any_order_and_ignores_exact_duplicates()
    {
        var r = new Ipv4Reassembler();
        var data = Pattern(3000, 1);
        var now = Instant.FromSeconds(1);
        int[] order = [2, 0, 2, 1];   // last first, a duplicate of it, then the rest
        byte[]? got = null;
        int length = 0;
        foreach (int i in order)
        {
            int offset = i * 1000;
            bool done = r.Add(Fragment(7, offset, 1000, more: i < 2), data.AsSpan(offset, 1000), now, out var buffer, out length, out var whole);
            if (!done) continue;
            got = buffer.AsSpan(0, length).ToArray();
            Assert.Equal(3000, whole.PayloadLength);
            Assert.False(whole.IsFragment);
            Ipv4Reassembler.Return(buffer);
        }
        Assert.Equal(data, got);
        Assert.Equal((1, 0, 0), (r.Reassembled, r.Dropped, r.InProgress));
    }

    [Fact]
    public void Reassembler_drops_a_datagram_whose_fragments_overlap_with_different_bytes()
    {
        var r = new Ipv4Reassembler();
        var now = Instant.FromSeconds(1);
        var a = Pattern(1600, 2);
        Assert.False(r.Add(Fragment(9, 0, 1000, true), a.AsSpan(0, 1000), now, out _, out _, out _));
        var evil = Pattern(1000, 3);   // overlaps [800, 1000) with other bytes
        Assert.False(r.Add(Fragment(9, 800, 800, false), evil.AsSpan(0, 800), now, out _, out _, out _));
        Assert.Equal((0, 1, 0), (r.Reassembled, r.Dropped, r.InProgress));
    }

    [Fact]
    public void Reassembler_times_out_and_bounds_datagrams_bytes_and_holes()
    {
        var r = new Ipv4Reassembler();
        var now = Instant.FromSeconds(1);
        var eight = new byte[8];
        // A lone first fragment times out.
        r.Add(Fragment(1, 0, 8, true), eight, now, out _, out _, out _);
        Assert.Equal(0, r.Expire(now + TimeSpan.FromSeconds(29)));
        Assert.Equal(1, r.Expire(now + Ipv4Reassembler.Timeout));
        Assert.Equal(0, r.InProgress);

        // More datagrams than the limit: the oldest go.
        for (int id = 0; id < Ipv4Reassembler.MaxDatagrams + 10; id++) r.Add(Fragment((ushort)id, 0, 8, true), eight, now, out _, out _, out _);
        Assert.Equal(Ipv4Reassembler.MaxDatagrams, r.InProgress);

        // Holes: every other 8-byte block of one datagram; past the range limit the datagram is dropped.
        var r2 = new Ipv4Reassembler();
        for (int k = 0; k < 100; k++) r2.Add(Fragment(5, k * 16, 8, true), eight, now, out _, out _, out _);
        Assert.Equal(1, r2.Dropped);      // at the 65th hole; the fragments after it start a new datagram
        Assert.Equal(1, r2.InProgress);

        // A middle fragment that is not a multiple of 8 bytes is malformed.
        var r3 = new Ipv4Reassembler();
        Assert.False(r3.Add(Fragment(6, 0, 12, true), new byte[12], now, out _, out _, out _));
        Assert.Equal(1, r3.Dropped);

        // Bytes: datagrams of 60 KB each, past 1 MiB in progress the oldest are dropped.
        var r4 = new Ipv4Reassembler();
        var big = new byte[60_000];
        for (int id = 0; id < 30; id++) r4.Add(Fragment((ushort)id, 8, 60_000, false), big, now, out _, out _, out _);
        Assert.True(r4.InProgress * 60_000 <= Ipv4Reassembler.MaxBufferedBytes, $"{r4.InProgress} datagrams in progress");
        Assert.True(r4.Dropped > 0);
    }

    private static (StackLab Lab, OffloadSocket Socket, PeerConnection Peer) Connected(OffloadPolicy policy)
    {
        var lab = new StackLab(new HostStackOptions { OffloadPolicy = policy });
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        if (policy == OffloadPolicy.AfterHandshake)
            lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        return (lab, socket, Assert.Single(lab.PeerConnections.Values));
    }

    [Theory]
    [InlineData(OffloadPolicy.AfterHandshake, false)]
    [InlineData(OffloadPolicy.AfterHandshake, true)]
    [InlineData(OffloadPolicy.Never, true)]
    public void Fragmented_segments_from_the_peer_are_reassembled_and_forwarded_or_processed(OffloadPolicy policy, bool reversed)
    {
        var (lab, socket, peer) = Connected(policy);
        using var _ = lab;
        lab.PeerFragmentSize = 256;
        lab.PeerFragmentsReversed = reversed;
        var down = Pattern(200_000, 7);
        var received = new MemoryStream();
        var read = AppIo.ReadAsync(socket, down.Length, 16 * 1024, received);
        peer.Send(down);
        lab.Run(read, TimeSpan.FromSeconds(60));
        Assert.Equal(down, received.ToArray());
        var st = lab.Stack.Statistics;
        Assert.True(st.DatagramsReassembled > 100, $"{st.DatagramsReassembled} datagrams reassembled");
        Assert.Equal(0, st.ReassemblyDrops);
        if (policy == OffloadPolicy.AfterHandshake)
        {
            Assert.Equal(ConnectionLocation.Offloaded, socket.Location);   // forwarded, never uploaded
            Assert.True(st.SegmentsForwarded >= st.DatagramsReassembled - 5, $"{st.SegmentsForwarded} forwarded of {st.DatagramsReassembled}");
        }
    }

    [Fact]
    public void Segments_with_ipv4_options_are_forwarded_to_the_offloaded_connection()
    {
        var (lab, socket, peer) = Connected(OffloadPolicy.AfterHandshake);
        using var _ = lab;
        lab.PeerIpOptions = [0x94, 0x04, 0x00, 0x00];   // Router Alert (RFC 2113)
        var down = Pattern(100_000, 8);
        var received = new MemoryStream();
        var read = AppIo.ReadAsync(socket, down.Length, 16 * 1024, received);
        peer.Send(down);
        lab.Run(read, TimeSpan.FromSeconds(60));
        Assert.Equal(down, received.ToArray());
        Assert.True(lab.Stack.Statistics.SegmentsForwarded > 50, $"{lab.Stack.Statistics.SegmentsForwarded} forwarded");
        Assert.Equal(ConnectionLocation.Offloaded, socket.Location);
    }
}
