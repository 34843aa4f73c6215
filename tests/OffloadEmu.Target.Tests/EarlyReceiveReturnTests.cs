namespace OffloadEmu.Target.Tests;

/// <summary>
/// Found while running the kernel end-to-end tests (TargetKernelEndToEndTests, 3 of 9 runs): a host that accepts an
/// indication and returns the NBL from another thread (ReceiveReturn is synchronous and allowed from any thread, spec §3)
/// can do so before the indicate call has returned. The target marked the buffer as held by the host only after the call
/// returned, so such an early return was taken for an unknown NBL and the buffer was never released
/// (<see cref="OffloadTarget.IndicatedBuffersHeldByHost"/> stayed 1). Reproduced deterministically by returning the NBL
/// inside the callback, the earliest a return can come.
/// </summary>
public sealed class EarlyReceiveReturnTests
{
    [Fact]
    public void An_indication_returned_before_the_indicate_call_returns_is_released()
    {
        using var lab = new TargetLab();
        var host = lab.Establish();
        var root = lab.BuildTree(host, out var tcp);
        lab.Api.InitiateOffload(root);
        lab.RunUntil(() => lab.Host.Initiated.Contains(root), TimeSpan.FromSeconds(1));
        Assert.Equal(NdisStatus.Success, tcp.Status);

        var received = new MemoryStream();
        int returnedEarly = 0;
        lab.Host.Answer = nbl =>
        {
            var bytes = new byte[nbl.DataLength];
            nbl.CopyTo(0, bytes);
            received.Write(bytes);
            // Taken whole and handed back at once, before answering (the host thread's race, made deterministic).
            lab.Api.TcpOffloadReceiveReturn(nbl);
            returnedEarly++;
            return (NdisStatus.Success, bytes.Length);
        };
        var data = Nbls.Pattern(20_000, seed: 9);
        lab.Peer.Enqueue(new MemorySendBuffer(data));
        lab.RunUntil(() => received.Length == data.Length, TimeSpan.FromSeconds(2));
        lab.RunFor(TimeSpan.FromMilliseconds(50));

        Assert.Equal(data, received.ToArray());
        Assert.True(returnedEarly > 0);
        Assert.Equal(0L, lab.Target.IndicatedBuffersHeldByHost);
    }
}
