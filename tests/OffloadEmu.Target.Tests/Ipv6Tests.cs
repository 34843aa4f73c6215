namespace OffloadEmu.Target.Tests;

/// <summary>The IPv6 path (spec §2 IP6 path state, §5 segmentation): offload, both directions, segment sizes, upload.</summary>
public sealed class Ipv6Tests
{
    [Fact]
    public void Ipv6_connection_offloads_moves_data_both_ways_with_ipv6_sized_segments_and_uploads()
    {
        using var lab = new TargetLab(ipv6: true);
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp, pathMtu: 1280);
        Assert.Equal(NdisStatus.Pending, lab.Api.InitiateOffload(root));
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.All(OffloadTree.Traverse(root), v => Assert.Equal(NdisStatus.Success, v.Block.Status));
        ulong ctx = tcp.MiniportOffloadContext!.Context;

        var up = Nbls.Pattern(100_000, seed: 61);
        var down = Nbls.Pattern(80_000, seed: 62);
        var send = Nbls.Send(up);
        lab.Api.TcpOffloadSend(ctx, send);
        lab.Peer.Enqueue(new MemorySendBuffer(down));
        lab.RunUntil(() => lab.Host.SendsCompleted.Contains(send) && lab.Host.IndicatedData.Length == down.Length, TimeSpan.FromSeconds(10));
        Assert.Equal(up, lab.PeerReceived.ToArray());
        Assert.Equal(down, lab.Host.IndicatedData.ToArray());
        lab.Host.ReturnAccepted();

        // Every frame the target sent is IPv6 and fits the 1280-byte path MTU; full segments use all of it
        // (1280 − 40 IPv6 − 20 TCP − 12 timestamps).
        int largest = 0;
        foreach (var frame in lab.WireFromTarget)
        {
            Assert.True(EthernetFrame.TryCreate(frame, out var eth));
            Assert.Equal(EtherType.Ipv6, eth.EtherType);
            Assert.True(Ipv6Packet.TryCreate(eth.Payload, out var ip));
            Assert.True(Ipv6Packet.HeaderLength + ip.PayloadLength <= 1280);
            Assert.True(TargetLab.TryTcpPayload(frame, out var segmentBytes));
            Assert.True(TcpSegment.TryCreate(segmentBytes, out var segment));
            Assert.True(segment.VerifyChecksum(TargetLab.HostIp6, TargetLab.PeerIp6), "IPv6 TCP checksum");
            largest = Math.Max(largest, segment.Payload.Length);
        }
        Assert.Equal(1280 - 40 - 20 - 12, largest);
        var stats = lab.Target.QueryTcpStatistics(ipv6: true);
        Assert.True(stats.InSegments > 0 && stats.OutSegments > 0);
        Assert.Equal(0UL, lab.Target.QueryTcpStatistics(ipv6: false).InSegments); // counted per family

        Assert.Equal(NdisStatus.Pending, lab.Api.TerminateOffload(root));
        lab.RunUntil(() => lab.Host.Terminated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        Assert.Equal(lab.Peer.SndNxt, tcp.TcpDelegated!.RcvNxt);
        Assert.Equal(lab.Peer.RcvNxt, tcp.TcpDelegated.SndUna);
    }

    [Fact]
    public void Ipv6_path_below_the_minimum_mtu_is_refused()
    {
        using var lab = new TargetLab(ipv6: true);
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp, pathMtu: 1200); // IPv6 minimum is 1280
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.NotEqual(NdisStatus.Success, tcp.Status);
        Assert.Equal(0, lab.Target.ConnectionCount);
    }
}
