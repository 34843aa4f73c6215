namespace OffloadEmu.Target.Tests;

public sealed class SmokeTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Offloaded_connection_sends_and_completes_on_ack(int queues)
    {
        using var lab = new TargetLab(queues: queues);
        var host = lab.Establish();
        ulong context = lab.Offload(host);
        Assert.NotEqual(0UL, context);
        Assert.Equal(1, lab.Target.ConnectionCount);
        var data = Nbls.Pattern(100_000);
        var nbl = Nbls.Send(data);
        Assert.Equal(NdisStatus.Pending, lab.Api.TcpOffloadSend(context, nbl));
        lab.RunUntil(() => lab.Host.SendsCompleted.Count == 1, TimeSpan.FromSeconds(10));
        Assert.Equal(NdisStatus.Success, nbl.Status);
        Assert.Equal(data.Length, nbl.TcpOffloadBytesTransferred);
        Assert.Equal(data, lab.PeerReceived.ToArray());
    }
}
