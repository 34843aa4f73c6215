namespace OffloadEmu.HostStack.Tests;

/// <summary>Many connections over one neighbour and path, opened, used and closed (gracefully or by abort) in a seeded
/// order: the shared objects' dependent counts follow, and everything is terminated when the last one goes.</summary>
public sealed class ChurnTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void ConnectionsComeAndGo_SharedObjectsFollow(int seed)
    {
        var random = new Random(seed);
        using var lab = new StackLab(new HostStackOptions { OffloadPolicy = OffloadPolicy.AfterHandshake });
        lab.PeerListens.Add(7);
        var live = new List<(OffloadSocket Socket, PeerConnection Peer)>();
        for (int round = 0; round < 12; round++)
        {
            if (live.Count < 4 && (live.Count == 0 || random.Next(2) == 0))
            {
                var socket = lab.Run(lab.Stack.ConnectAsync(StackLab.PeerIp, 7));
                lab.RunUntil(() => socket.Location == ConnectionLocation.Offloaded, TimeSpan.FromSeconds(1));
                live.Add((socket, lab.PeerConnections[(7, socket.LocalPort)]));
            }
            else
            {
                var (socket, peer) = live[random.Next(live.Count)];
                live.Remove((socket, peer));
                if (random.Next(2) == 0)
                {
                    socket.Abort();
                }
                else
                {
                    var close = socket.CloseAsync();
                    peer.Machine.Close();
                    lab.Run(close);
                }
                // A graceful close may leave our end in TIME-WAIT (kept in host mode for 2MSL = 60 s).
                lab.RunUntil(() => socket.Location == ConnectionLocation.Closed, TimeSpan.FromSeconds(65));
            }
            // Every live connection still carries data, byte-exact.
            foreach (var (socket, peer) in live)
            {
                var data = AppIo.Pattern(20_000, seed * 100 + round);
                long before = peer.Received.Length;
                lab.Run(AppIo.WriteAsync(socket, data));
                lab.RunUntil(() => peer.Received.Length == before + data.Length, TimeSpan.FromSeconds(5));
                Assert.Equal(data, peer.Received.ToArray().AsSpan((int)before).ToArray());
            }
            Assert.Equal(live.Count, lab.Target.ConnectionCount);
            var expected = live.Count == 0 ? (0, 0, 0) : (1, 1, live.Count);
            Assert.True(expected == lab.Stack.OffloadedObjects, $"round {round}: expected {expected}, got {lab.Stack.OffloadedObjects}; live {live.Count}; {lab.Describe()}");
        }
        foreach (var (socket, _) in live) socket.Abort();
        lab.RunUntil(() => lab.Stack.ConnectionCount == 0, TimeSpan.FromSeconds(5));
        Assert.Equal((0, 0, 0), lab.Stack.OffloadedObjects);
        Assert.Equal(0, lab.Target.ConnectionCount);
    }
}
