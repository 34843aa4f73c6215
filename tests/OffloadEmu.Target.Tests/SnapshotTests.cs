namespace OffloadEmu.Target.Tests;

/// <summary>SnapshotConnectionsAsync: answered by the engine between two rounds (never from the caller's thread), with
/// the connection's state as the peer sees it.</summary>
public sealed class SnapshotTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task The_snapshot_is_taken_at_the_engines_next_round_and_matches_the_peers_view_of_the_connection(int queues)
    {
        using var lab = new TargetLab(queues: queues);
        var host = lab.Establish();
        ulong context = lab.Offload(host, out var root);
        var data = Nbls.Pattern(50_000);
        var nbl = Nbls.Send(data);
        Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadSend(context, nbl));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(10));

        var pending = lab.Target.SnapshotConnectionsAsync(10);
        Assert.False(pending.IsCompleted); // manual mode: nothing reads connection state until the engine runs
        lab.Step();
        var (connections, total) = await pending.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, total);
        var c = Assert.Single(connections);
        Assert.Equal(context, c.Context);
        Assert.Equal(OffloadTree.Traverse(root).Last().Block.NdisOffloadHandle, c.Handle);
        Assert.Equal(TcpState.Established, c.State);
        Assert.Equal(lab.Peer.RcvNxt, c.SndUna); // every byte acknowledged
        Assert.Equal(c.SndUna, c.SndNxt);
        Assert.Equal(lab.Peer.SndNxt, c.RcvNxt);
        Assert.Equal(new IpAddressValue(TargetLab.HostIp), c.LocalAddress);
        Assert.Equal(TargetLab.LocalPort, c.LocalPort);
        Assert.Equal(new IpAddressValue(TargetLab.PeerIp), c.RemoteAddress);
        Assert.Equal(TargetLab.RemotePort, c.RemotePort);
        Assert.True(c.OutSegments >= (ulong)(data.Length / c.Mss), $"{c.OutSegments} segments for {data.Length} bytes of MSS {c.Mss}");
        Assert.Equal(0, c.SendQueued); // all acknowledged: the target holds no send data

        // A send the peer does not read: the target holds what its window does not take (Send-Q).
        lab.PeerReads = false;
        lab.Api.TcpOffloadSend(context, Nbls.Send(Nbls.Pattern(4_000_000)));
        lab.RunFor(TimeSpan.FromMilliseconds(300));
        var heldTask = lab.Target.SnapshotConnectionsAsync(10);
        lab.Step();
        var held = Assert.Single((await heldTask.WaitAsync(TimeSpan.FromSeconds(10))).Connections);
        Assert.InRange(held.SendQueued, 1, 4_000_000);
        Assert.True(held.SndUna.Value - c.SndUna.Value + (ulong)held.SendQueued >= 4_000_000, "queued + acknowledged covers what was sent");

        var capped = lab.Target.SnapshotConnectionsAsync(0);
        lab.Step();
        var (none, all) = await capped.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Empty(none);
        Assert.Equal(1, all);
    }
}
