using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using OffloadEmu.Chimney.State;
using OffloadEmu.Control.Client;
using OffloadEmu.HostStack;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// Issue 8, faults: the offloademud process killed with SIGKILL while a bound host stack has a connection offloaded
/// with a write and a read outstanding. The host sees the hardware-failure path (spec §6.6): the application's read and
/// write fail promptly with a clear error instead of hanging, and a daemon restarted on the same socket path serves a
/// new host that offloads again.
/// </summary>
/// <remarks>The daemon runs on a memory link (its cable's far end lives in the daemon process, out of the test's
/// reach), so the connection is offloaded synthetically (no handshake) and its data goes out unanswered: the writes stay
/// outstanding (never ACKed) and the read waits, which is the state a kill mid-transfer leaves a host in. The TAP lab
/// against the kernel is not needed for what is checked here: the host side of the failure.</remarks>
public sealed partial class DaemonKillTests : IDisposable
{
    private const int SIGKILL = 9;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Socket => _dir.File("control.sock");

    private static SyntheticConnection Connection(ushort localPort)
    {
        var seq = new SeqNumber(0x1000_0000);
        var peerSeq = new SeqNumber(0x2000_0000);
        var cached = TcpMachine.Connect(TcpConfig.Default, TcpEndpointAddresses.Ipv4(new Ipv4Address(198, 18, 0, 2), new Ipv4Address(198, 18, 0, 1)),
            localPort, 7, Instant.FromSeconds(1)).ExportCachedState();
        return new SyntheticConnection
        {
            RemoteAddress = new Ipv4Address(198, 18, 0, 1),
            RemoteMac = MacAddress.FromUInt64(0x02_00_00_00_00_0BUL),
            Const = new TcpConstState { LocalPort = localPort, RemotePort = 7, RemoteMss = 1460 },
            Cached = cached,
            Delegated = new TcpDelegatedState
            {
                State = TcpState.Established,
                RcvNxt = peerSeq,
                RcvWnd = 64 * 1024,
                SndUna = seq,
                SndNxt = seq,
                SndMax = seq,
                SndWnd = 64 * 1024,
                MaxSndWnd = 64 * 1024,
                SendWL1 = peerSeq,
                CWnd = 10 * 1460,
                SsThresh = 0x7FFF_FFFF,
            },
        };
    }

    private async Task<RemoteOffloadTarget> ConnectWhenReady(DaemonProcess daemon)
    {
        var end = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                return await RemoteOffloadTarget.ConnectAsync(Socket);
            }
            catch (Exception e) when (e is IOException or SocketException && DateTime.UtcNow < end)
            {
                await Task.Delay(200);
            }
            if (DateTime.UtcNow >= end) Assert.Fail($"offloademud did not serve {Socket}:\n{daemon.Stderr}");
        }
    }

    [Fact]
    public async Task SIGKILL_of_the_daemon_fails_the_offloaded_connection_promptly_and_a_restarted_daemon_serves_a_new_host()
    {
        _dir.Write("emulator.json", TestConfig.MemoryJson);
        var daemon = DaemonProcess.Start(_dir.Path, []);
        try
        {
            await using var remote = await ConnectWhenReady(daemon);
            using var stack = new HostStack.HostStack(remote, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 2) });
            stack.Start();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var socket = (await stack.OffloadSyntheticAsync(Connection(40100), timeout.Token)).Socket;
            Assert.Equal(ConnectionLocation.Offloaded, socket.Location);

            // Mid-transfer: a read waiting for data and writes on their way out (the far end never ACKs them).
            var read = socket.ReadAsync(new byte[4096], timeout.Token).AsTask();
            var data = new byte[256 * 1024];
            new Random(5).NextBytes(data);
            var write = Task.Run(async () =>
            {
                // Until the send buffer is full: nothing is ever ACKed, so the last write stays outstanding.
                while (true) await socket.WriteAsync(data.AsMemory(), timeout.Token);
            });
            await Task.Delay(500);
            Assert.False(read.IsCompleted, "the read completed before the kill");
            Assert.False(write.IsCompleted, "the writes did not fill the send buffer");

            Assert.Equal(0, Kill(daemon.Id, SIGKILL));
            var killed = Stopwatch.StartNew();
            Assert.Equal(128 + SIGKILL, daemon.WaitForExit(TimeSpan.FromSeconds(10)));

            // Both calls fail, promptly, with an IOException that names what happened (no hang: bounded by 5 s).
            var readError = await Assert.ThrowsAnyAsync<IOException>(() => read.WaitAsync(TimeSpan.FromSeconds(5)));
            var writeError = await Assert.ThrowsAnyAsync<IOException>(() => write.WaitAsync(TimeSpan.FromSeconds(5)));
            killed.Stop();
            Assert.True(killed.Elapsed < TimeSpan.FromSeconds(5), $"the failure took {killed.Elapsed}");
            Assert.Contains("offload target", readError.Message, StringComparison.OrdinalIgnoreCase);
            Assert.Equal(SocketError.ConnectionAborted, Assert.IsType<SocketException>(readError.InnerException).SocketErrorCode);
            Assert.Equal(readError.Message, writeError.Message);
            await Assert.ThrowsAnyAsync<IOException>(() => socket.ReadAsync(new byte[16]).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
            Assert.False(remote.IsConnected);
        }
        finally
        {
            daemon.Dispose();
        }

        // A new daemon on the same socket path (the dead one left its socket file behind) serves a new host.
        using var second = DaemonProcess.Start(_dir.Path, []);
        await using var remote2 = await ConnectWhenReady(second);
        using var stack2 = new HostStack.HostStack(remote2, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 2) });
        stack2.Start();
        using var timeout2 = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var again = (await stack2.OffloadSyntheticAsync(Connection(40101), timeout2.Token)).Socket;
        Assert.Equal(ConnectionLocation.Offloaded, again.Location);
        await again.WriteAsync(new byte[1000], timeout2.Token); // accepted by the new target (buffered: never ACKed here)
        Assert.True(remote2.IsConnected);
        second.Terminate();
        Assert.Equal(0, second.WaitForExit(TimeSpan.FromSeconds(20)));
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
