using OffloadEmu.Link;
using OffloadEmu.Link.Devices;

namespace OffloadEmu.Target.Tests;

/// <summary>Segmentation-offload mode (docs/target.md): super-segments out, super-frames and vouched-for checksums in,
/// over a MemoryLink pair that carries each frame's virtio-net metadata (the peer machine plays the kernel).</summary>
public sealed class SegmentationOffloadTests
{
    private static readonly MemoryLinkOptions OffloadLink = new() { SegmentationOffload = true, Capacity = 256 };

    private static (TargetLab Lab, ulong Context) Offloaded(bool offload = true, bool nagle = true, bool ipv6 = false, TcpConfig? peerConfig = null)
    {
        var lab = new TargetLab(link: offload ? OffloadLink : null, ipv6: ipv6,
            peerConfig: peerConfig ?? TcpConfig.Default with { ReceiveBufferSize = 1024 * 1024, Sack = true });
        var host = lab.Establish(TcpConfig.Default with { ReceiveBufferSize = 256 * 1024, Sack = true, Nagle = nagle });
        var r = lab.BuildTree(host, out var tcp);
        lab.Api.InitiateOffload(r);
        lab.RunUntil(() => lab.Host.Initiated.Contains(r), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        return (lab, tcp.MiniportOffloadContext!.Context);
    }

    private static int Mss(TargetLab lab) => lab.Ipv6 ? 1428 : 1448; // the lab's MSS (1460, IPv6 1440) less the timestamp option

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Bulk_send_goes_as_super_segments_cut_at_the_effective_mss_and_arrives_byte_exact(bool ipv6)
    {
        var (lab, ctx) = Offloaded(ipv6: ipv6);
        using var _ = lab;
        Assert.True(lab.Target.SegmentationOffload);
        var data = Nbls.Pattern(2 * 1024 * 1024 + 777, seed: 11);
        var nbl = Nbls.Send(data);
        lab.Api.TcpOffloadSend(ctx, nbl);
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(30));
        Assert.Equal(data.Length, nbl.TcpOffloadBytesTransferred);
        Assert.Equal(data, lab.PeerReceived.ToArray());

        int mss = Mss(lab);
        long superFrames = 0, wireSegments = 0;
        for (int i = 0; i < lab.WireFromTarget.Count; i++)
        {
            var frame = lab.WireFromTarget[i];
            var offload = lab.OffloadFromTarget[i];
            Assert.True(TargetLab.TryTcpPayload(frame, out var tcpBytes));
            Assert.True(TcpSegment.TryCreate(tcpBytes, out var seg));
            int payload = seg.Payload.Length;
            // Every frame asks the device for the checksum: NEEDS_CSUM at the TCP header, field at +16.
            Assert.True(offload.ChecksumPartial);
            Assert.Equal(frame.Length - tcpBytes.Length, offload.ChecksumStart);
            Assert.Equal(16, offload.ChecksumOffset);
            if (payload > mss)
            {
                superFrames++;
                Assert.Equal(ipv6 ? VirtioNetGsoType.TcpV6 : VirtioNetGsoType.TcpV4, offload.GsoType);
                Assert.Equal(mss, offload.GsoSize);
                Assert.Equal(frame.Length - payload, offload.HeaderLength);
                Assert.True(frame.Length <= 14 + 40 + 65_535, $"{frame.Length}-byte frame");
                wireSegments += (payload + mss - 1) / mss;
            }
            else
            {
                Assert.False(offload.IsGso);
                if (payload > 0) wireSegments++;
            }
        }
        Assert.True(superFrames > 10, $"{superFrames} super-segments");
        Assert.Equal(superFrames, lab.Target.SuperFramesOut);
        // The statistics count what the wire carries after the device cut the super-segments.
        var stats = lab.Target.QueryTcpStatistics(ipv6);
        Assert.True(stats.OutSegments >= (ulong)wireSegments, $"OutSegments {stats.OutSegments} < {wireSegments} wire segments");
        Assert.True(stats.OutSegments >= (ulong)(data.Length / mss));
    }

    [Fact]
    public void Super_segments_take_consecutive_ipv4_ids_in_the_targets_half()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(1024 * 1024, seed: 12)));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(30));
        int mss = Mss(lab);
        int? expected = null;
        foreach (var (ip, _, payload, _) in lab.TargetSegments())
        {
            Assert.True(ip.Identification >= 0x8000);
            if (expected is { } e && payload > 0) Assert.Equal(e, ip.Identification);
            int segments = payload > mss ? (payload + mss - 1) / mss : 1;
            Assert.True(ip.Identification + segments - 1 <= 0xFFFF);
            expected = ip.Identification + segments;
        }
    }

    [Fact]
    public void Nagle_holds_the_short_tail_of_a_super_segment_as_it_holds_a_short_segment()
    {
        var (lab, ctx) = Offloaded(nagle: true);
        using var _ = lab;
        lab.DropToPeer = _ => true; // nothing is ACKed: what goes is only what may go unacknowledged
        int mss = Mss(lab);
        var data = Nbls.Pattern(5 * mss + 100, seed: 13);
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(data));
        lab.RunFor(TimeSpan.FromMilliseconds(100));
        var first = lab.TargetSegments().Where(s => s.PayloadLength > 0).ToList();
        // One super-segment of the five full segments (IW10 lets them go); the 100-byte tail waits for an ACK (Nagle),
        // as it would after five wire-sized segments.
        Assert.Single(first);
        Assert.Equal(5 * mss, first[0].PayloadLength);
        lab.DropToPeer = null;
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(10));
        Assert.Equal(data, lab.PeerReceived.ToArray());
    }

    [Fact]
    public void Without_nagle_the_tail_rides_in_the_super_segment()
    {
        var (lab, ctx) = Offloaded(nagle: false);
        using var _ = lab;
        lab.DropToPeer = _ => true;
        int mss = Mss(lab);
        var data = Nbls.Pattern(5 * mss + 100, seed: 14);
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(data));
        lab.RunFor(TimeSpan.FromMilliseconds(100));
        var first = lab.TargetSegments().Where(s => s.PayloadLength > 0).ToList();
        Assert.Single(first);
        Assert.Equal(data.Length, first[0].PayloadLength);
        Assert.True((first[0].Tcp.Flags & TcpFlags.Psh) != 0);
    }

    [Fact]
    public void The_congestion_window_bounds_a_super_segment_as_it_bounds_a_flight()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        lab.DropToPeer = _ => true;
        int mss = Mss(lab);
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(Nbls.Pattern(40 * mss, seed: 15)));
        lab.RunFor(TimeSpan.FromMilliseconds(100));
        var flight = lab.TargetSegments().Where(s => s.PayloadLength > 0).ToList();
        // Initial window: 10 segments (RFC 6928 as the machine implements it), in one super-segment.
        Assert.Single(flight);
        Assert.Equal(10 * mss, flight[0].PayloadLength);
    }

    [Fact]
    public void Retransmissions_stay_wire_sized()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        int dropped = 0;
        // Lose the first super-segment once: the repair resends it segment by segment.
        lab.DropToPeer = f =>
        {
            if (dropped > 0 || !TargetLab.TryTcpPayload(f, out var t) || !TcpSegment.TryCreate(t, out var s) || s.Payload.Length <= 1448) return false;
            dropped++;
            return true;
        };
        var data = Nbls.Pattern(256 * 1024, seed: 16);
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(data));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(30));
        Assert.Equal(data, lab.PeerReceived.ToArray());
        Assert.Equal(1, dropped);
        var stats = lab.Target.QueryTcpStatistics(false);
        Assert.True(stats.RetransmittedSegments > 0);
        var seen = new HashSet<uint>();
        foreach (var s in lab.TargetSegments())
        {
            if (s.PayloadLength == 0) continue;
            if (!seen.Add(s.Tcp.SequenceNumber.Value)) Assert.True(s.PayloadLength <= Mss(lab), "a retransmission was a super-segment");
        }
    }

    private static byte[] PeerSuperFrame(TargetLab lab, byte[] payload, bool partial, out VirtioNetHeader offload, bool corrupt = false)
    {
        var peer = lab.Peer;
        var repr = new TcpRepr
        {
            SourcePort = TargetLab.RemotePort,
            DestinationPort = TargetLab.LocalPort,
            SequenceNumber = peer.SndNxt,
            AckNumber = peer.RcvNxt,
            Flags = TcpFlags.Ack | TcpFlags.Psh,
            Window = 1000,
            Options = TargetLab.PeerTimestamps(lab),
            PayloadLength = payload.Length,
        };
        var tcp = new byte[repr.BufferLength + payload.Length];
        payload.CopyTo(tcp, repr.BufferLength);
        if (partial) repr.EmitPartialChecksum(tcp, TargetLab.PeerIp, TargetLab.HostIp);
        else repr.Emit(tcp, TargetLab.PeerIp, TargetLab.HostIp);
        if (corrupt) tcp[^1] ^= 0x5A;
        var frame = lab.FrameFromPeer(tcp);
        offload = new VirtioNetHeader
        {
            Flags = partial ? VirtioNetHeaderFlags.NeedsChecksum : VirtioNetHeaderFlags.None,
            GsoType = VirtioNetGsoType.TcpV4,
            GsoSize = 1448,
            HeaderLength = (ushort)(frame.Length - payload.Length),
            ChecksumStart = (ushort)(frame.Length - tcp.Length),
            ChecksumOffset = 16,
        };
        return frame;
    }

    [Fact]
    public void A_super_frame_with_a_partial_checksum_is_accepted_whole_trusted_and_counted_as_its_segments()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        var post = Nbls.Post(64 * 1024);
        lab.Api.TcpOffloadReceive(ctx, post);
        var before = lab.Target.QueryTcpStatistics(false);
        var payload = Nbls.Pattern(40 * 1448 + 3, seed: 17);
        var frame = PeerSuperFrame(lab, payload, partial: true, out var offload);
        lab.Inject(frame, offload);
        lab.Target.Poll(lab.Now); // the target alone: nothing else reaches it in between
        var after = lab.Target.QueryTcpStatistics(false);
        Assert.Equal(41UL, after.InSegments - before.InSegments);
        Assert.Equal(0UL, after.InErrors - before.InErrors);
        Assert.Equal(1, lab.Target.SuperFramesIn);
        Assert.True(lab.Target.ChecksumsTrusted >= 1);
        Assert.Equal(lab.Peer.SndNxt + payload.Length, lab.Target.Engine.Connections.Single().Machine.RcvNxt);
        // A super-frame stands for 41 segments: it is ACKed at once (every second full segment), not delayed.
        // (The peer machine never sent these bytes, so the ACK is read off the wire, not given to it.)
        var pool = new FramePool(FramePool.SuperFrameBufferSize, 8);
        var batch = new[] { pool.Rent(), pool.Rent(), pool.Rent(), pool.Rent() };
        int n = lab.PeerSide.Receive(batch, 0);
        bool acked = false;
        for (int i = 0; i < n; i++)
            if (TargetLab.TryTcpPayload(batch[i].Span, out var t) && TcpSegment.TryCreate(t, out var seg) && seg.Payload.Length == 0
                && seg.AcknowledgmentNumber == lab.Peer.SndNxt + payload.Length) acked = true;
        Assert.True(acked, $"no immediate ACK of the super-frame among {n} frames");
    }

    [Fact]
    public void Without_the_device_vouching_a_bad_checksum_is_still_a_counted_drop()
    {
        var (lab, ctx) = Offloaded();
        using var _ = lab;
        lab.Api.TcpOffloadReceive(ctx, Nbls.Post(64 * 1024));
        var before = lab.Target.QueryTcpStatistics(false);
        var payload = Nbls.Pattern(3 * 1448, seed: 18);
        var frame = PeerSuperFrame(lab, payload, partial: false, out var offload, corrupt: true);
        lab.Inject(frame, offload with { Flags = VirtioNetHeaderFlags.None });
        lab.Target.Poll(lab.Now);
        var after = lab.Target.QueryTcpStatistics(false);
        Assert.Equal(1UL, after.InErrors - before.InErrors);
        Assert.Equal(0UL, after.InSegments - before.InSegments);
        Assert.Equal(0, lab.Target.ChecksumsTrusted);
        // The same bytes vouched for by the device (DATA_VALID) are taken as they are, as a NIC's validated frame is.
        lab.Inject(frame, offload with { Flags = VirtioNetHeaderFlags.DataValid });
        lab.Target.Poll(lab.Now);
        Assert.Equal(1, lab.Target.ChecksumsTrusted);
        Assert.Equal(3UL, lab.Target.QueryTcpStatistics(false).InSegments - after.InSegments);
    }

    [Fact]
    public void A_frame_going_up_to_the_host_has_its_partial_checksum_completed()
    {
        var (lab, _) = Offloaded();
        using var __ = lab;
        // A segment for a connection the target does not hold goes up on the non-offload path.
        var repr = new TcpRepr
        {
            SourcePort = 5555, DestinationPort = 6666, SequenceNumber = new SeqNumber(1), AckNumber = new SeqNumber(1),
            Flags = TcpFlags.Ack, Window = 100, PayloadLength = 10,
        };
        var tcp = new byte[repr.BufferLength + 10];
        repr.EmitPartialChecksum(tcp, TargetLab.PeerIp, TargetLab.HostIp);
        var frame = lab.FrameFromPeer(tcp);
        var offload = new VirtioNetHeader { Flags = VirtioNetHeaderFlags.NeedsChecksum, ChecksumStart = (ushort)(frame.Length - tcp.Length), ChecksumOffset = 16 };
        int before = lab.Host.Frames.Count;
        lab.Inject(frame, offload);
        lab.Step();
        Assert.Equal(before + 1, lab.Host.Frames.Count);
        var up = lab.Host.Frames[^1];
        Assert.True(TargetLab.TryTcpPayload(up, out var upTcp));
        Assert.True(TcpSegment.TryCreate(upTcp, out var seg));
        Assert.True(seg.VerifyChecksum(TargetLab.PeerIp, TargetLab.HostIp));
    }

    [Fact]
    public void Off_by_default_every_segment_is_wire_sized_with_a_full_checksum()
    {
        var (lab, ctx) = Offloaded(offload: false);
        using var _ = lab;
        Assert.False(lab.Target.SegmentationOffload);
        var data = Nbls.Pattern(512 * 1024, seed: 19);
        lab.Api.TcpOffloadSend(ctx, Nbls.Send(data));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(30));
        Assert.All(lab.TargetSegments(), s => Assert.True(s.PayloadLength <= 1448));
        Assert.All(lab.OffloadFromTarget, o => Assert.Equal(VirtioNetHeader.None, o));
        Assert.Equal(0, lab.Target.SuperFramesOut);
    }
}
