namespace OffloadEmu.HostStack.Tests;

/// <summary>Spec §6.6: NDIS_STATUS_UPLOAD_ALL takes every connection back (and stops offloading), OFFLOAD_RESUME lets the
/// policy offload again; the byte streams do not notice.</summary>
public sealed class AdapterStatusTests
{
    [Fact]
    public void UploadAll_ThenResume_ConnectionsKeepTheirBytesAndGoBack()
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake });
        lab.PeerListens.Add(7);
        var a = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var b = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        lab.RunUntil(() => a.Location == ConnectionLocation.Offloaded && b.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
        var peerA = lab.PeerConnections[(7, a.LocalPort)];
        var peerB = lab.PeerConnections[(7, b.LocalPort)];
        var da = AppIo.Pattern(600_000, 120);
        var db = AppIo.Pattern(600_000, 121);
        var wa = AppIo.WriteAsync(a, da);
        var wb = AppIo.WriteAsync(b, db);
        lab.RunUntil(() => peerA.Received.Length > 100_000 && peerB.Received.Length > 100_000, TimeSpan.FromSeconds(10));

        lab.Target.IndicateUploadAll();
        lab.RunUntil(() => a.Location == ConnectionLocation.Host && b.Location == ConnectionLocation.Host, TimeSpan.FromSeconds(5));
        Assert.Equal(0, lab.Target.ConnectionCount);
        lab.RunFor(TimeSpan.FromMilliseconds(20));
        Assert.Equal(ConnectionLocation.Host, a.Location); // paused: the policy does not offload

        lab.Target.IndicateResume();
        lab.Run(wa);
        lab.Run(wb);
        lab.RunUntil(() => peerA.Received.Length == da.Length && peerB.Received.Length == db.Length, TimeSpan.FromSeconds(30));
        Assert.Equal(da, peerA.Received.ToArray());
        Assert.Equal(db, peerB.Received.ToArray());
        // Resumed: new activity lets the policy offload them again.
        var more = AppIo.Pattern(10_000, 122);
        lab.Run(AppIo.WriteAsync(a, more));
        lab.RunUntil(() => a.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(5));
    }
}
