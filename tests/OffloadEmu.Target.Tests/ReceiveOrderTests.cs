namespace OffloadEmu.Target.Tests;

/// <summary>Regression (found by the host stack): a post completed in the same round as a following indication must
/// reach the host before it, or the host sees the stream out of order (spec §3: in-order delivery, completions and
/// indications serialized per connection).</summary>
public sealed class ReceiveOrderTests
{
    [Fact]
    public void A_filled_post_completes_before_the_indication_of_the_bytes_after_it()
    {
        using var lab = new TargetLab();
        var host = lab.Establish();
        var ctx = lab.Offload(host);
        var post = Nbls.Post(1000);
        Assert.Equal(NdisStatus.Pending, lab.Target.TcpOffloadReceive(ctx, post));
        lab.Step();
        int completionsSeenAtIndication = -1;
        lab.Host.Answer = nbl =>
        {
            completionsSeenAtIndication = lab.Host.ReceivesCompleted.Count;
            return (NdisStatus.Success, (int)nbl.DataLength);
        };
        var data = Nbls.Pattern(1400); // one segment: fills the post and leaves 400 bytes to indicate in the same round
        lab.Peer.Enqueue(new MemorySendBuffer(data));
        lab.RunUntil(() => lab.Host.IndicatedData.Length == 400, TimeSpan.FromSeconds(1));
        Assert.Equal(1, completionsSeenAtIndication);
        Assert.Equal(data.AsSpan(0, 1000).ToArray(), Nbls.Received(Assert.Single(lab.Host.ReceivesCompleted)));
        Assert.Equal(data.AsSpan(1000).ToArray(), lab.Host.IndicatedData.ToArray());
    }
}
