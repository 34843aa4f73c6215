using OffloadEmu.Link.Decorators;
using OffloadEmu.Target;

namespace OffloadEmu.HostStack.Tests;

/// <summary>Upload and re-offload at seeded random points while both directions move: every byte arrives once and in
/// order, whatever the connection's location when it was written or received.</summary>
public sealed class ContinuityTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(4, false)]
    [InlineData(5, true)]
    [InlineData(6, true)]
    [InlineData(7, true)]
    [InlineData(8, true)]
    // The target completes unacknowledged sends at terminate (one partial, then UPLOAD_IN_PROGRESS; spec §10 row 14)
    // instead of returning them: the host resends from its own chunks.
    [InlineData(9, false, TerminateSendDisposition.Complete)]
    [InlineData(10, false, TerminateSendDisposition.Complete)]
    [InlineData(11, true, TerminateSendDisposition.Complete)]
    [InlineData(12, true, TerminateSendDisposition.Complete)]
    // Every initiate held for a random number of rounds: the peer's segments that arrive meanwhile are held by the stack
    // and forwarded once the initiate completes (spec §4).
    [InlineData(13, false, TerminateSendDisposition.Return, true)]
    [InlineData(14, false, TerminateSendDisposition.Complete, true)]
    [InlineData(15, true, TerminateSendDisposition.Return, true)]
    [InlineData(16, true, TerminateSendDisposition.Complete, true)]
    public void RandomUploadsAndReoffloads_KeepBothStreamsByteExact(int seed, bool lossy,
        TerminateSendDisposition terminateSends = TerminateSendDisposition.Return, bool holdInitiates = false)
    {
        var random = new Random(seed);
        var damage = lossy ? new ImpairmentSpec { LossPercent = 2, DuplicatePercent = 1 } : null;
        HoldingTarget? holding = null;
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake },
            targetOptions: new OffloadTargetOptions { TerminateSends = terminateSends },
            decorate: holdInitiates ? t => holding = new HoldingTarget(t) { Hold = false } : null,
            impairment: damage, impairmentSeed: (ulong)seed);
        lab.PeerListens.Add(7);
        var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        var peer = Assert.Single(lab.PeerConnections.Values);
        var up = AppIo.Pattern(3 * 1024 * 1024 + random.Next(1000), seed * 10);
        var down = AppIo.Pattern(3 * 1024 * 1024 + random.Next(1000), seed * 10 + 1);
        var received = new MemoryStream();
        var write = AppIo.WriteAsync(socket, up, 1000 + random.Next(40_000));
        var read = AppIo.ReadAsync(socket, down.Length, 1000 + random.Next(60_000), received);
        peer.Send(down);

        int uploads = 0, offloads = 0;
        var end = lab.Now + TimeSpan.FromSeconds(lossy ? 600 : 120);
        while (!(write.IsCompleted && read.IsCompleted && peer.Received.Length == up.Length))
        {
            Assert.True(lab.Now < end, $"seed {seed}: transfer stalled. {lab.Describe()}");
            for (int i = random.Next(1, 8); i > 0; i--) lab.StepOrAdvance();
            if (random.Next(3) == 0) continue;
            switch (socket.Location)
            {
                case ConnectionLocation.Offloaded:
                    lab.Run(socket.UploadAsync());
                    Assert.Equal(ConnectionLocation.Host, socket.Location);
                    uploads++;
                    break;
                case ConnectionLocation.Host when holding is not null:
                {
                    holding.Hold = true;
                    var offload = socket.OffloadAsync();
                    for (int i = random.Next(1, 12); i > 0; i--) lab.StepOrAdvance();
                    holding.Release();
                    if (lab.Run(offload)) offloads++;
                    break;
                }
                case ConnectionLocation.Host:
                    if (lab.Run(socket.OffloadAsync())) offloads++;
                    break;
            }
        }
        Assert.False(write.IsFaulted || read.IsFaulted, $"seed {seed}: {write.Exception ?? read.Exception}");
        Assert.Equal(up, peer.Received.ToArray());
        Assert.Equal(down, received.ToArray());
        Assert.True(uploads >= 2, $"seed {seed}: only {uploads} uploads, {offloads} offloads, failed {lab.Stack.Statistics.OffloadsFailed}, {socket.Location}");
        Assert.True(offloads >= 2, $"seed {seed}: only {offloads} re-offloads");
        Assert.Equal(uploads, lab.Stack.Statistics.Uploads);
        output.WriteLine($"seed {seed}: {uploads} uploads, {offloads} re-offloads, {lab.Stack.Statistics.SegmentsForwarded} forwarded, " +
                         $"{lab.Stack.Statistics.SendsHandedBack} sends handed back by completion");
        if (holdInitiates)
            Assert.True(lab.Stack.Statistics.SegmentsForwarded > 0, $"seed {seed}: no segment arrived during a held initiate");
        if (terminateSends == TerminateSendDisposition.Complete)
            Assert.True(lab.Stack.Statistics.SendsHandedBack > 0, $"seed {seed}: no upload found a send to complete UPLOAD_IN_PROGRESS");
        // Nothing leaked: all chunks came back, the target holds no indication buffers.
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }
    [Theory]
    [InlineData(21, false)]
    [InlineData(22, false)]
    [InlineData(23, true)]
    [InlineData(24, true)]
    public void ThreeConnections_OnATargetThatHoldsOne_PartialOffloadFailuresAtRandomPoints_AllStreamsByteExact(int seed, bool lossy)
    {
        // Capacity 1: whichever connection asks second gets OFFLOAD_TCP resources refused (its neighbour and path go as
        // linkers, spec §2), stays in host mode and keeps working; random uploads hand the slot around.
        var random = new Random(seed);
        var damage = lossy ? new ImpairmentSpec { LossPercent = 1, DuplicatePercent = 1 } : null;
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake },
            targetOptions: new OffloadTargetOptions
            {
                Capabilities = new TcpConnectionOffloadCapabilities { TcpConnectionOffloadCapacity = 1, SupportIPv4 = true, SupportSack = true },
            },
            impairment: damage, impairmentSeed: (ulong)seed);
        lab.PeerListens.Add(7);
        var sockets = new List<OffloadSocket>();
        var transfers = new List<(OffloadSocket Socket, PeerConnection Peer, byte[] Up, byte[] Down, MemoryStream Received, Task Write, Task Read)>();
        for (int i = 0; i < 3; i++)
        {
            var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
            var peer = lab.PeerConnections[(7, socket.LocalPort)];
            var up = AppIo.Pattern(2_000_000 + random.Next(1000), seed * 10 + i);
            var down = AppIo.Pattern(2_000_000 + random.Next(1000), seed * 10 + i + 5);
            var received = new MemoryStream();
            var write = AppIo.WriteAsync(socket, up, 1000 + random.Next(20_000));
            var read = AppIo.ReadAsync(socket, down.Length, 1000 + random.Next(30_000), received);
            peer.Send(down);
            transfers.Add((socket, peer, up, down, received, write, read));
        }
        var end = lab.Now + TimeSpan.FromSeconds(lossy ? 600 : 120);
        while (!transfers.TrueForAll(t => t.Write.IsCompleted && t.Read.IsCompleted && t.Peer.Received.Length == t.Up.Length))
        {
            Assert.True(lab.Now < end, $"seed {seed}: stalled. {lab.Describe()}");
            for (int i = random.Next(1, 4); i > 0; i--) lab.StepOrAdvance();
            var t = transfers[random.Next(transfers.Count)];
            if (t.Socket.Location == ConnectionLocation.Offloaded) lab.Run(t.Socket.UploadAsync());
            else if (t.Socket.Location == ConnectionLocation.Host) lab.Run(t.Socket.OffloadAsync());
        }
        foreach (var t in transfers)
        {
            Assert.False(t.Write.IsFaulted || t.Read.IsFaulted, $"seed {seed}: {t.Write.Exception ?? t.Read.Exception}");
            Assert.Equal(t.Up, t.Peer.Received.ToArray());
            Assert.Equal(t.Down, t.Received.ToArray());
        }
        var st = lab.Stack.Statistics;
        output.WriteLine($"seed {seed}: {st.OffloadsSucceeded} offloads, {st.OffloadsFailed} refused, {st.Uploads} uploads");
        Assert.True(st.OffloadsFailed >= 2, $"seed {seed}: only {st.OffloadsFailed} offloads were refused");
        Assert.True(st.OffloadsSucceeded >= 3, $"seed {seed}: only {st.OffloadsSucceeded} offloads succeeded");
        Assert.True(lab.Target.ConnectionCount <= 1);
        Assert.Equal(0, lab.Target.IndicatedBuffersHeldByHost);
    }
}
