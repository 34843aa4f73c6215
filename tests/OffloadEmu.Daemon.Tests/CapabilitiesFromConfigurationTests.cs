using System.Collections.Concurrent;
using System.Net.Sockets;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Control.Client;
using OffloadEmu.Tcp;
using OffloadEmu.TestSupport;
using OffloadEmu.Wire;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// Chimney spec §10 row 1: a host reads IPv4/IPv6/SACK/capacity/encapsulation from emulator.json, and capacity + 1 gets
/// OFFLOAD_TCP_ENTRIES. The built offloademud runs as a process on a memory link (no TAP, no root) with non-default
/// capabilities in its emulator.json; a host binds over its control socket, reads them (current and hardware), and
/// finds them in force: offloads up to the capacity succeed, the next fails OFFLOAD_TCP_ENTRIES, a path of a family
/// the file turned off fails.
/// </summary>
public sealed class CapabilitiesFromConfigurationTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Socket => _dir.File("control.sock");

    private static string Json(string capabilities) => $$"""
        {
          "Link": { "Kind": "memory", "Interface": "mem0" },
          "Nic": { "Capabilities": {{capabilities}} },
          "Capture": { "File": "" },
          "Logging": { "Serilog": { "MinimumLevel": { "Default": "Warning" }, "WriteTo": [] } }
        }
        """;

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
                Assert.False(daemon.HasExited, $"offloademud exited:\n{daemon.Stderr}");
                await Task.Delay(200);
            }
        }
    }

    [Theory]
    [InlineData(true, false, false, 3, "Ieee8023, LlcSnapRouted", OffloadEncapsulation.Ieee8023 | OffloadEncapsulation.IeeeLlcSnapRouted)]
    [InlineData(false, true, true, 2, "LlcSnapRouted", OffloadEncapsulation.IeeeLlcSnapRouted)]
    public async Task Row1_the_host_reads_each_capability_from_emulator_json_through_the_daemon_and_capacity_plus_one_fails(
        bool ipv4, bool ipv6, bool sack, int capacity, string encapsulation, OffloadEncapsulation expectedEncapsulation)
    {
        _dir.Write("emulator.json", Json($$"""
            { "Ipv4": {{(ipv4 ? "true" : "false")}}, "Ipv6": {{(ipv6 ? "true" : "false")}}, "Sack": {{(sack ? "true" : "false")}},
              "Capacity": {{capacity}}, "Encapsulation": "{{encapsulation}}" }
            """));
        using var daemon = DaemonProcess.Start(_dir.Path, []);
        await using var remote = await ConnectWhenReady(daemon);
        var host = new CompletionHost();
        remote.Bind(host);

        // The host's view, from the hello over the control socket: every field as the file set it (the built-in
        // defaults are IPv4, IPv6 and SACK on, capacity 1024, IEEE 802.3 only).
        foreach (var caps in new[] { remote.CurrentCapabilities, remote.HardwareCapabilities })
        {
            Assert.Equal(ipv4, caps.SupportIPv4);
            Assert.Equal(ipv6, caps.SupportIPv6);
            Assert.Equal(sack, caps.SupportSack);
            Assert.Equal((uint)capacity, caps.TcpConnectionOffloadCapacity);
            Assert.Equal(expectedEncapsulation, caps.Encapsulation);
        }

        // In force in the target: a family turned off refuses its path, the TCP block under it fails.
        var off = await Initiate(remote, host, Tree(remote, ipv6: ipv4, localPort: 50000, handle: 0x10)); // the family that is off
        Assert.Equal(NdisStatus.OffloadPartialSuccess, off.Root.Status); // the neighbour is in place, its path is not
        Assert.Equal(NdisStatus.Failure, off.Path.Status);
        Assert.Equal(NdisStatus.Failure, off.Tcp.Status);
        // Up to the capacity, offloads of the family that is on succeed; one more gets OFFLOAD_TCP_ENTRIES.
        bool v6 = !ipv4;
        for (int i = 0; i < capacity; i++)
        {
            var ok = await Initiate(remote, host, Tree(remote, v6, (ushort)(50001 + i), handle: 0x100 + (ulong)i * 0x10));
            Assert.Equal(NdisStatus.Success, ok.Tcp.Status);
        }
        var over = await Initiate(remote, host, Tree(remote, v6, (ushort)(50001 + capacity), handle: 0x900));
        Assert.Equal(NdisStatus.OffloadTcpEntries, over.Tcp.Status);
        Assert.False(over.Tcp.MiniportOffloadContext!.HasContext);
        Assert.True(remote.IsConnected);
        // This host never uploads: it leaves (its connections go with its session) before the daemon is stopped.
        await remote.DisposeAsync();
        daemon.Terminate();
        Assert.Equal(0, daemon.WaitForExit(TimeSpan.FromSeconds(20)));
    }

    private sealed record Blocks(OffloadBlock Root, OffloadBlock Path, OffloadBlock Tcp);

    private static async Task<Blocks> Initiate(RemoteOffloadTarget remote, CompletionHost host, Blocks tree)
    {
        Assert.Equal(NdisStatus.Pending, remote.InitiateOffload(tree.Root));
        var done = await host.Initiated.Task(tree.Root).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Same(tree.Root, done);
        return tree;
    }

    /// <summary>A new neighbour → path → TCP tree for an established connection (synthetic: no handshake, nothing sent).</summary>
    private static Blocks Tree(RemoteOffloadTarget remote, bool ipv6, ushort localPort, ulong handle)
    {
        var local4 = new Ipv4Address(198, 18, 0, 2);
        var remote4 = new Ipv4Address(198, 18, 0, 1);
        var local6 = Ipv6Address.Parse("fd00:198:18::2");
        var remote6 = Ipv6Address.Parse("fd00:198:18::1");
        var addresses = ipv6 ? TcpEndpointAddresses.Ipv6(local6, remote6) : TcpEndpointAddresses.Ipv4(local4, remote4);
        var cached = TcpMachine.Connect(TcpConfig.Default, addresses, localPort, 7, Instant.FromSeconds(1)).ExportCachedState();
        var seq = new SeqNumber(0x1000_0000);
        var peerSeq = new SeqNumber(0x2000_0000);
        var neighbor = new OffloadBlock(OffloadBlockType.NeighborOffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(),
            NdisOffloadHandle = handle + 1,
            NeighborConst = new NeighborConstState(),
            NeighborCached = new NeighborCachedState { DlDestinationAddress = MacAddress.FromUInt64(0x02_00_00_00_00_0BUL) },
            NeighborDelegated = new NeighborDelegatedState(),
        };
        var path = new OffloadBlock(ipv6 ? OffloadBlockType.Ip6OffloadState : OffloadBlockType.Ip4OffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(),
            NdisOffloadHandle = handle + 2,
            PathConst = ipv6 ? new PathConstState { SourceAddress = local6, DestinationAddress = remote6 }
                : new PathConstState { SourceAddress = local4, DestinationAddress = remote4 },
            PathCached = new PathCachedState { PathMtu = (uint)remote.Mtu },
            PathDelegated = new PathDelegatedState(),
        };
        var tcp = new OffloadBlock(OffloadBlockType.TcpOffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot(),
            NdisOffloadHandle = handle + 3,
            TcpConst = new TcpConstState { LocalPort = localPort, RemotePort = 7, RemoteMss = 1400 },
            TcpCached = cached,
            TcpDelegated = new TcpDelegatedState
            {
                State = TcpState.Established, RcvNxt = peerSeq, RcvWnd = 60_000, SndUna = seq, SndNxt = seq, SndMax = seq, // no window scaling: RcvWnd at most 65535
                SndWnd = 64 * 1024, MaxSndWnd = 64 * 1024, SendWL1 = peerSeq, CWnd = 10 * 1400, SsThresh = 0x7FFF_FFFF,
            },
        };
        neighbor.AddDependent(path);
        path.AddDependent(tcp);
        return new Blocks(neighbor, path, tcp);
    }

    /// <summary>A host over the control socket that only signals initiate completions (nothing else happens here: the
    /// connections are never sent on, the memory link's far end is silent).</summary>
    private sealed class CompletionHost : NullOffloadHost
    {
        public Completions Initiated { get; } = new();

        public override void InitiateOffloadComplete(OffloadBlock root) => Initiated.Complete(root);
    }

    private sealed class Completions
    {
        private readonly ConcurrentDictionary<OffloadBlock, TaskCompletionSource<OffloadBlock>> _waiting = new();

        public Task<OffloadBlock> Task(OffloadBlock root) => Source(root).Task;

        public void Complete(OffloadBlock root) => Source(root).TrySetResult(root);

        private TaskCompletionSource<OffloadBlock> Source(OffloadBlock root)
            => _waiting.GetOrAdd(root, _ => new TaskCompletionSource<OffloadBlock>(TaskCreationOptions.RunContinuationsAsynchronously));
    }
}
