namespace OffloadEmu.HostStack.Tests;

/// <summary>The steady-state data path of the host stack allocates nothing per segment, in host mode and offloaded
/// (frames, commands, posts, indications, completions and waiting reads all come from pools or reusable sources).</summary>
public sealed class AllocationTests
{
    [Theory]
    [InlineData(OffloadPolicy.Never, false)]
    [InlineData(OffloadPolicy.AfterHandshake, false)]
    [InlineData(OffloadPolicy.Never, true)]
    [InlineData(OffloadPolicy.AfterHandshake, true)]
    public void BulkTransferBothWays_AllocatesNothingAfterWarmUp(OffloadPolicy policy, bool ipv6)
    {
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = policy });
        lab.PeerListens.Add(7);
        var socket = lab.Run(ipv6 ? lab.Stack.ConnectAsync(StackLab.PeerIp6, 7) : lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
        Assert.Equal(ipv6, socket.IsIpv6);
        var peer = Assert.Single(lab.PeerConnections.Values);
        lab.RunFor(TimeSpan.FromMilliseconds(10));
        Assert.Equal(policy == OffloadPolicy.Never ? ConnectionLocation.Host : ConnectionLocation.Offloaded, socket.Location);

        const int MiB = 1024 * 1024;
        const int Total = 24 * MiB;
        var counter = new CountingReader(socket);
        var reading = counter.RunAsync(Total);
        var payload = AppIo.Pattern(Total, 5);
        var writing = socket.WriteAsync(payload).AsTask(); // one call: one state machine for the whole run
        peer.Send(payload);

        // Warm up pools and queues with the first 4 MiB, then measure windows of 2 MiB each way. A per-segment
        // allocation shows in every window; the target's frame pool (rented inside SendFrame) may still be growing
        // to its working set in the first ones, so the first window that allocates nothing passes (as in
        // tests/Shared/Allocations.cs).
        lab.RunUntil(() => counter.Read > 4 * MiB && peer.Received.Length > 4 * MiB, TimeSpan.FromSeconds(60));
        var windows = new List<long>();
        for (int w = 0; w < 8; w++)
        {
            peer.Received.SetLength(0); // the peer's own buffer is outside the measurement but keeps memory flat
            long before = lab.StackAllocatedBytes;
            long target = counter.Read + 2 * MiB;
            lab.RunUntil(() => counter.Read >= target, TimeSpan.FromSeconds(60));
            windows.Add(lab.StackAllocatedBytes - before);
            if (windows[^1] == 0) break;
        }
        lab.Run(writing);
        lab.Run(reading);
        Assert.Equal(Total, counter.Read);
        Assert.True(windows[^1] == 0, $"{policy} ipv6={ipv6}: every 2 MiB window allocated: {string.Join(", ", windows)} bytes");
    }

    private sealed class CountingReader(OffloadSocket socket)
    {
        private readonly byte[] _buffer = new byte[64 * 1024];

        public long Read { get; private set; }

        public async Task RunAsync(long total)
        {
            while (Read < total)
            {
                int n = await socket.ReadAsync(_buffer);
                if (n == 0) return;
                Read += n;
            }
        }
    }
}
