namespace OffloadEmu.Target.Tests;

/// <summary>Spec §1 and §10 row 59: the target under stacked pass-through layers, each re-issuing requests with its own
/// handles; every completion, indication and event reaches the host with the host's own handle and objects.</summary>
public sealed class LayeringTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Offload_io_events_and_terminate_work_through_stacked_layers(int layers)
    {
        using var lab = new TargetLab(passThroughLayers: layers);
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp, handleBase: 0x7000);
        Assert.Equal(NdisStatus.Pending, lab.Api.InitiateOffload(root));
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.All(OffloadTree.Traverse(root), v => Assert.Equal(NdisStatus.Success, v.Block.Status));
        ulong ctx = tcp.MiniportOffloadContext!.Context;

        var up = Nbls.Pattern(40_000, seed: 1);
        var down = Nbls.Pattern(30_000, seed: 2);
        var send = Nbls.Send(up);
        lab.Api.TcpOffloadSend(ctx, send);
        var post = Nbls.Post(10_000, noPush: true);
        lab.Api.TcpOffloadReceive(ctx, post);
        lab.Peer.Enqueue(new MemorySendBuffer(down));
        lab.RunUntil(() => lab.Host.SendsCompleted.Contains(send) && lab.Host.IndicatedData.Length == 20_000, TimeSpan.FromSeconds(5));
        Assert.Same(send, lab.Host.SendsCompleted.Single()); // the host's own NBL comes back, not a layer's clone
        Assert.Equal(up, lab.PeerReceived.ToArray());
        Assert.Same(post, lab.Host.ReceivesCompleted.Single());
        Assert.Equal(down, Nbls.Received(post).Concat(lab.Host.IndicatedData.ToArray()).ToArray());
        lab.Host.ReturnAccepted();

        lab.Peer.Close();
        lab.RunUntil(() => lab.Host.HasEvent(TcpOffloadEventType.Disconnect), TimeSpan.FromSeconds(1));
        Assert.All(lab.Host.Events, e => Assert.Equal(0x7003UL, e.Handle)); // the host's handle, not a layer's

        Assert.Equal(NdisStatus.Pending, lab.Api.TerminateOffload(root));
        lab.RunUntil(() => lab.Host.Terminated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);
        Assert.Equal(TcpState.CloseWait, tcp.TcpDelegated!.State);
        Assert.Equal(0, lab.Target.ConnectionCount);
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }
}
