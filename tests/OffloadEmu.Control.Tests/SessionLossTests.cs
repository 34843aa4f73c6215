using System.Net.Sockets;
using OffloadEmu.Control.Client;
using OffloadEmu.Control.Server;
using OffloadEmu.HostStack;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;

namespace OffloadEmu.Control.Tests;

/// <summary>
/// The host stack's control session closes while a hand-over is pending (issue 4: the demo's hand-over transfer hung
/// 90 s). The target is gone for this host, a hardware failure of its NIC (spec §6.6): the pending re-offload completes
/// FAILURE, every connection the stack has — the one that was being handed over included, now in host mode without a
/// NIC to send through — fails with a clear error, and nothing waits for ever. The chimney contract between the stack
/// and the remote target is checked throughout.
/// </summary>
public sealed class SessionLossTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_session_closed_mid_reoffload_fails_the_offload_and_the_transfer_with_a_clear_error(bool killSocket)
    {
        var dir = Directory.CreateTempSubdirectory("oe-sl-");
        try
        {
            MemoryLink.CreatePair(out var linkA, out var linkB);
            using var _a = linkA;
            using var _b = linkB;
            using var targetA = new OffloadTarget(linkA);
            using var targetB = new OffloadTarget(linkB);
            var holding = new HoldingTarget(targetA);
            string socket = Path.Combine(dir.FullName, "control.sock");
            var server = new ControlServer(holding, new ControlServerOptions { Path = socket });
            server.Start();
            targetA.Start();
            targetB.Start();
            await using var remote = await RemoteOffloadTarget.ConnectAsync(socket);
            var checker = new ContractChecker(remote, new ContractCheckerOptions { Mode = ContractCheckerMode.Record });
            using var stackA = new HostStack.HostStack(checker, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 2) });
            using var stackB = new HostStack.HostStack(targetB, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 1), OffloadPolicy = OffloadPolicy.Never });
            stackA.Start();
            stackB.Start();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

            var accept = stackB.Listen(7).AcceptAsync(timeout.Token);
            var client = await stackA.ConnectAsync(stackB.Address, 7, timeout.Token).WaitAsync(timeout.Token);
            var peer = await accept.WaitAsync(timeout.Token);
            // A second connection that stays offloaded: it fails too, through the hardware-failure events.
            var accept2 = stackB.Listen(8).AcceptAsync(timeout.Token);
            var other = await stackA.ConnectAsync(stackB.Address, 8, timeout.Token).WaitAsync(timeout.Token);
            var otherPeer = await accept2.WaitAsync(timeout.Token);
            await WaitForAsync(() => client.Location == ConnectionLocation.Offloaded && other.Location == ConnectionLocation.Offloaded, "the offloads");

            // Data both ways, offloaded, then in host mode after an upload.
            var first = Pattern(256 * 1024, 1);
            await client.Stream.WriteAsync(first, timeout.Token);
            Assert.Equal(first, await ReadExactlyAsync(peer, first.Length, timeout.Token));
            await client.UploadAsync().WaitAsync(timeout.Token);
            Assert.Equal(ConnectionLocation.Host, client.Location);
            var second = Pattern(64 * 1024, 2);
            await client.Stream.WriteAsync(second, timeout.Token);
            Assert.Equal(second, await ReadExactlyAsync(peer, second.Length, timeout.Token));

            // The re-offload is held at the server's target: the initiate is outstanding when the session goes.
            holding.Hold = true;
            var offload = client.OffloadAsync();
            await WaitForAsync(() => holding.HeldCount == 1, "the held initiate");
            var clientRead = client.Stream.ReadAsync(new byte[4096], timeout.Token).AsTask();
            var otherRead = other.Stream.ReadAsync(new byte[4096], timeout.Token).AsTask();

            ValueTask stop = default;
            if (killSocket) remote.CloseTransportForTest(); // the socket dies under the client (daemon killed)
            else stop = server.DisposeAsync();               // the server closes the session (Shutdown error)

            Assert.False(await offload.WaitAsync(Bound), "the re-offload must fail: its target is gone");
            var readError = await Assert.ThrowsAnyAsync<IOException>(() => clientRead.WaitAsync(Bound));
            Assert.Contains("offload target", readError.Message);
            Assert.IsType<SocketException>(readError.InnerException);
            // A write after the loss fails at once with the same error instead of queueing for a NIC that is gone.
            var writeError = await Assert.ThrowsAnyAsync<IOException>(() => client.Stream.WriteAsync(new byte[100], timeout.Token).AsTask().WaitAsync(Bound));
            Assert.Contains("offload target", writeError.Message);
            var otherError = await Assert.ThrowsAnyAsync<IOException>(() => otherRead.WaitAsync(Bound));
            Assert.Contains("offload target", otherError.Message);
            // New connections are refused with the same error, not left waiting for ARP.
            var connectError = await Assert.ThrowsAnyAsync<IOException>(() => stackA.ConnectAsync(stackB.Address, 7, timeout.Token).WaitAsync(Bound));
            Assert.Contains("offload target", connectError.Message);
            await WaitForAsync(() => stackA.ConnectionCount == 0, "the failed connections to be released");
            Assert.Equal(1, stackA.Statistics.OffloadsFailed);
            Assert.True(stackA.Statistics.TargetRetrieves >= 1, "the offloaded connection was retrieved (hardware failure)");
            Assert.False(remote.IsConnected);
            Assert.Null(remote.DispatchError);

            holding.Release(); // let the server's side clean up what the session left
            if (killSocket) stop = server.DisposeAsync();
            await stop;
            Assert.Empty(checker.Violations);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(OffloadSocket socket, int length, CancellationToken token)
    {
        var data = new byte[length];
        await socket.Stream.ReadExactlyAsync(data, token);
        return data;
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("timed out waiting for " + what);
            await Task.Delay(5);
        }
    }

    private static byte[] Pattern(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private sealed class HoldingTarget(IOffloadTarget inner) : DelegatingOffloadTarget(inner)
    {
        private readonly Lock _lock = new();
        private readonly List<OffloadBlock> _held = [];

        public bool Hold { get; set; }

        public int HeldCount
        {
            get
            {
                lock (_lock) return _held.Count;
            }
        }

        public void Release()
        {
            OffloadBlock[] held;
            lock (_lock)
            {
                Hold = false;
                held = [.. _held];
                _held.Clear();
            }
            foreach (var root in held) Inner.InitiateOffload(root);
        }

        public override NdisStatus InitiateOffload(OffloadBlock root)
        {
            lock (_lock)
            {
                if (Hold)
                {
                    _held.Add(root);
                    return NdisStatus.Pending;
                }
            }
            return Inner.InitiateOffload(root);
        }
    }
}
