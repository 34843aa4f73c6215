using System.Collections.Concurrent;
using System.Diagnostics;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Control.Client;
using OffloadEmu.Control.Server;
using OffloadEmu.Link;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Benchmarks;

/// <summary>
/// <c>control</c> mode (docs/performance.md, "Through the daemon"): the same host-side workloads against the threaded
/// <see cref="OffloadTarget"/> in process, and through a real <see cref="ControlServer"/> and
/// <see cref="RemoteOffloadTarget"/> over a Unix socket, with the target on a <see cref="MemoryLink"/> and a
/// <see cref="TcpMachine"/> peer on a thread of its own (no TAP, no kernel TCP). Figures: bulk send and bulk receive
/// bytes/s of one connection, 1-byte send → completion latency (p50/p99), initiate+terminate per second (one at a time
/// and 32 connections at once).
/// Usage: <c>control [inproc|remote|both] [seconds] [send|recv|lat|ops|all]</c>.
/// </summary>
internal static class ControlBench
{
    public static int Run(string[] args)
    {
        string which = args.Length > 1 ? args[1] : "both";
        double seconds = args.Length > 2 ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 3;
        string tests = args.Length > 3 ? args[3] : "all";
        var modes = which switch
        {
            "inproc" => new[] { false },
            "remote" => new[] { true },
            _ => new[] { false, true },
        };
        Console.WriteLine($"load average: {File.ReadAllText("/proc/loadavg").Trim()}");
        foreach (bool remote in modes)
        {
            string name = remote ? "remote" : "inproc";
            if (tests is "all" or "send") Report(name, "bulk send", Bulk(remote, send: true, seconds, out double cpu), cpu);
            if (tests is "all" or "recv") Report(name, "bulk receive", Bulk(remote, send: false, seconds, out double cpu), cpu);
            if (tests is "all" or "lat") Console.WriteLine($"{name,-7} 1-byte send→completion: {Latency(remote, seconds)}");
            if (tests is "all" or "ops")
            {
                double rate = Operations(remote, 1, seconds, out double cpu);
                Console.WriteLine($"{name,-7} initiate+terminate, 1 at a time: {rate:N0}/s, CPU {cpu:F1} µs each");
                rate = Operations(remote, 32, seconds, out cpu);
                Console.WriteLine($"{name,-7} initiate+terminate, 32 at once: {rate:N0}/s, CPU {cpu:F1} µs each");
            }
        }
        Console.WriteLine($"load average: {File.ReadAllText("/proc/loadavg").Trim()}");
        return 0;
    }

    // CPU: the process's CPU time (all threads: host, client, server, target, peer) per MiB moved, which the machine's
    // load moves far less than the wall-clock rate.
    private static void Report(string mode, string what, double bytesPerSecond, double cpuPerMiB)
        => Console.WriteLine($"{mode,-7} {what}: {bytesPerSecond * 8 / 1e9:F2} Gbit/s ({bytesPerSecond / (1 << 20):F0} MiB/s), CPU {cpuPerMiB:F2} ms/MiB; "
            + $"receive buffer pool: {Tcp.ReceiveBufferPool.Shared.Takes} takes, {Tcp.ReceiveBufferPool.Shared.Allocations} allocations, "
            + $"{Tcp.ReceiveBufferPool.Shared.Discards} discards; {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)} GCs");

    private static TimeSpan Cpu() => System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;

    private static double Bulk(bool remote, bool send, double seconds, out double cpuPerMiB)
    {
        var peerConfig = TcpConfig.Default with { ReceiveBufferSize = 4 << 20, Sack = true };
        var hostConfig = TcpConfig.Default with { ReceiveBufferSize = 4 << 20, Sack = true };
        using var lab = new Lab(remote, peerConfig, hostConfig, connections: 1);
        var c = lab.Connections[0];
        c.Context = lab.Offload(c);
        var data = new byte[64 * 1024];
        new Random(7).NextBytes(data);
        if (send)
        {
            for (int i = 0; i < 32; i++)
            {
                var nbl = new NetBufferList(1, 1);
                nbl.AddBuffer().AddSegment(data);
                lab.Host.FreeSends.Enqueue(nbl);
            }
        }
        else
        {
            lab.PeerSource = data;
        }
        var sw = Stopwatch.StartNew();
        long start = 0;
        bool warm = false;
        var cpu0 = TimeSpan.Zero;
        var deadline = TimeSpan.FromSeconds(seconds + 0.5);
        while (sw.Elapsed < deadline)
        {
            if (send)
            {
                while (lab.Host.FreeSends.TryDequeue(out var nbl))
                {
                    nbl[0].SetData(0, data.Length);
                    nbl.TcpOffloadBytesTransferred = 0;
                    lab.Api.TcpOffloadSend(c.Context, nbl);
                }
                lab.Host.SendDone.Wait(100);
                lab.Host.SendDone.Reset();
            }
            else
            {
                Thread.Sleep(20);
            }
            if (!warm && sw.Elapsed.TotalSeconds >= 0.5)
            {
                warm = true;
                start = send ? lab.PeerBytesRead : Interlocked.Read(ref lab.Host.BytesIndicated);
                cpu0 = Cpu();
                sw.Restart();
                deadline = TimeSpan.FromSeconds(seconds);
            }
        }
        long end = send ? lab.PeerBytesRead : Interlocked.Read(ref lab.Host.BytesIndicated);
        cpuPerMiB = (Cpu() - cpu0).TotalMilliseconds / ((end - start) / (double)(1 << 20));
        return (end - start) / sw.Elapsed.TotalSeconds;
    }

    private static string Latency(bool remote, double seconds)
    {
        var peerConfig = TcpConfig.Default with { ReceiveBufferSize = 256 * 1024, Sack = true, AckFrequency = 1 };
        var hostConfig = TcpConfig.Default with { ReceiveBufferSize = 64 * 1024, Sack = true };
        using var lab = new Lab(remote, peerConfig, hostConfig, connections: 1);
        var c = lab.Connections[0];
        c.Context = lab.Offload(c);
        var nbl = new NetBufferList(1, 1);
        nbl.AddBuffer().AddSegment(new byte[] { 0x42 });
        var samples = new List<double>(100_000);
        var total = Stopwatch.StartNew();
        int warmup = 200;
        while (total.Elapsed.TotalSeconds < seconds || samples.Count < 100)
        {
            nbl[0].SetData(0, 1);
            nbl.TcpOffloadBytesTransferred = 0;
            lab.Host.SendDone.Reset();
            long t0 = Stopwatch.GetTimestamp();
            lab.Api.TcpOffloadSend(c.Context, nbl);
            while (!lab.Host.FreeSends.TryDequeue(out _)) lab.Host.SendDone.Wait(1000);
            double us = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
            if (warmup > 0) warmup--;
            else samples.Add(us);
        }
        samples.Sort();
        return $"p50 {samples[samples.Count / 2]:F1} µs, p99 {samples[(int)(samples.Count * 0.99)]:F1} µs, " +
            $"max {samples[^1]:F0} µs ({samples.Count} samples)";
    }

    private static double Operations(bool remote, int parallel, double seconds, out double cpuMicroseconds)
    {
        var config = TcpConfig.Default with { ReceiveBufferSize = 64 * 1024, Sack = true };
        using var lab = new Lab(remote, config, config, connections: parallel);
        var trees = new OffloadBlock[parallel][];
        for (int i = 0; i < parallel; i++)
        {
            var root = lab.BuildTree(lab.Connections[i], (ulong)(i * 4), out var tcp);
            trees[i] = [root, root.DependentBlockList!, tcp];
        }
        // Each tree alternates initiate → terminate → initiate; the host's callbacks only queue the tree back here.
        var ready = lab.Host.Ready;
        for (int i = 0; i < parallel; i++) ready.Enqueue((trees[i][0], false));
        long done = 0, start = 0;
        bool warm = false;
        var cpu0 = TimeSpan.Zero;
        var sw = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(seconds + 0.5);
        var initiated = new HashSet<OffloadBlock>();
        while (sw.Elapsed < deadline)
        {
            while (ready.TryDequeue(out var item))
            {
                var (root, wasInitiate) = item;
                if (root.Status != NdisStatus.Success && root.Status != NdisStatus.Pending)
                    throw new InvalidOperationException($"{(wasInitiate ? "initiate" : "terminate")} failed: {root.Status}");
                if (wasInitiate)
                {
                    lab.Api.TerminateOffload(root);
                }
                else
                {
                    if (initiated.Contains(root)) done++;
                    initiated.Add(root);
                    for (var b = root; b is not null; b = b.DependentBlockList) b.MiniportOffloadContext!.Context = 0;
                    lab.Api.InitiateOffload(root);
                }
            }
            lab.Host.StateDone.Wait(100);
            lab.Host.StateDone.Reset();
            if (!warm && sw.Elapsed.TotalSeconds >= 0.5)
            {
                warm = true;
                start = done;
                cpu0 = Cpu();
                sw.Restart();
                deadline = TimeSpan.FromSeconds(seconds);
            }
        }
        cpuMicroseconds = (Cpu() - cpu0).TotalMicroseconds / Math.Max(1, done - start);
        return (done - start) / sw.Elapsed.TotalSeconds;
    }

    /// <summary>The target (threaded) on a MemoryLink, a peer thread with TCP machines, optionally a control server
    /// and a client; <see cref="Api"/> is what the host calls.</summary>
    private sealed class Lab : IDisposable
    {
        private static readonly Ipv4Address HostIp = new(198, 18, 0, 2);
        private static readonly Ipv4Address PeerIp = new(198, 18, 0, 1);
        private const ushort RemotePort = 7;
        private static int s_labs;

        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly Thread _peerThread;
        private readonly FramePool _pool = new(2048, 8192);
        private readonly Lock _lock = new();
        private readonly ControlServer? _server;
        private readonly RemoteOffloadTarget? _client;
        private volatile bool _stop;
        private ushort _peerIpId = 1;

        public Lab(bool remote, TcpConfig peerConfig, TcpConfig hostConfig, int connections)
        {
            MemoryLink.CreatePair(out var nic, out var peer, new MemoryLinkOptions { Capacity = 8192 });
            NicSide = nic;
            PeerSide = peer;
            Target = new OffloadTarget(nic);
            Host = new BenchHost();
            var now = Now;
            for (int i = 0; i < connections; i++) Connections.Add(Establish(peerConfig, hostConfig, (ushort)(40000 + i), now));
            if (remote)
            {
                string path = $"@oe-pc-bench-{Environment.ProcessId}-{Interlocked.Increment(ref s_labs)}";
                _server = new ControlServer(Target, new ControlServerOptions { Path = path });
                _server.Start();
                Target.Start();
                _client = RemoteOffloadTarget.Connect(path, new RemoteOffloadTargetOptions { ClientName = "bench" });
                Api = _client;
            }
            else
            {
                Target.Start();
                Api = Target;
            }
            Host.Api = Api;
            Api.Bind(Host);
            _peerThread = new Thread(PeerLoop) { IsBackground = true, Name = "bench peer" };
            _peerThread.Start();
        }

        public MemoryLink NicSide { get; }
        public MemoryLink PeerSide { get; }
        public OffloadTarget Target { get; }
        public IOffloadTarget Api { get; }
        public BenchHost Host { get; }
        public List<Conn> Connections { get; } = [];
        public byte[]? PeerSource { get; set; }
        public long PeerBytesRead;

        private Instant Now => Instant.FromMicroseconds(_clock.ElapsedTicks * 1_000_000 / Stopwatch.Frequency + 1_000_000_000);

        public sealed class Conn
        {
            public required TcpMachine Peer { get; init; }
            public required TcpMachine Host { get; init; }
            public required ushort Port { get; init; }
            public ulong Context { get; set; }
        }

        private static Conn Establish(TcpConfig peerConfig, TcpConfig hostConfig, ushort port, Instant now)
        {
            var addresses = TcpEndpointAddresses.Ipv4(HostIp, PeerIp);
            var peer = TcpMachine.Listen(peerConfig, addresses.Reversed, RemotePort);
            var host = TcpMachine.Connect(hostConfig, addresses, port, RemotePort, now);
            var a = new Collector();
            var b = new Collector();
            for (int i = 0; i < 10; i++)
            {
                host.Dispatch(now, a);
                foreach (var s in a.Take()) peer.ProcessSegment(s, now);
                peer.Dispatch(now, b);
                foreach (var s in b.Take()) host.ProcessSegment(s, now);
            }
            if (host.State != TcpState.Established) throw new InvalidOperationException("handshake failed");
            host.TakeEvents();
            peer.TakeEvents();
            return new Conn { Peer = peer, Host = host, Port = port };
        }

        public OffloadBlock BuildTree(Conn c, ulong handleBase, out OffloadBlock tcp)
        {
            var neighbor = new OffloadBlock(OffloadBlockType.NeighborOffloadState)
            {
                MiniportOffloadContext = new OffloadContextSlot(), NdisOffloadHandle = handleBase + 1,
                NeighborConst = new NeighborConstState(),
                NeighborCached = new NeighborCachedState { DlDestinationAddress = PeerSide.MacAddress },
                NeighborDelegated = new NeighborDelegatedState(),
            };
            var path = new OffloadBlock(OffloadBlockType.Ip4OffloadState)
            {
                MiniportOffloadContext = new OffloadContextSlot(), NdisOffloadHandle = handleBase + 2,
                PathConst = new PathConstState { SourceAddress = HostIp, DestinationAddress = PeerIp },
                PathCached = new PathCachedState { PathMtu = 1500 }, PathDelegated = new PathDelegatedState(),
            };
            tcp = new OffloadBlock(OffloadBlockType.TcpOffloadState)
            {
                MiniportOffloadContext = new OffloadContextSlot(), NdisOffloadHandle = handleBase + 3,
                TcpConst = c.Host.ExportConstState(), TcpCached = c.Host.ExportCachedState(), TcpDelegated = c.Host.ExportDelegatedState(Now),
            };
            neighbor.AddDependent(path);
            path.AddDependent(tcp);
            return neighbor;
        }

        public ulong Offload(Conn c)
        {
            var root = BuildTree(c, 0, out var tcp);
            Api.InitiateOffload(root);
            while (!Host.Ready.TryDequeue(out _)) Host.StateDone.Wait(1000);
            if (tcp.Status != NdisStatus.Success) throw new InvalidOperationException($"initiate failed: {tcp.Status}");
            return tcp.MiniportOffloadContext!.Context;
        }

        private void PeerLoop()
        {
            var batch = new FrameBuffer[64];
            for (int i = 0; i < batch.Length; i++) batch[i] = _pool.Rent();
            var writer = new PeerWriter(this);
            var buffer = new byte[256 * 1024];
            while (!_stop)
            {
                int n;
                try
                {
                    n = PeerSide.Receive(batch, 1);
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
                lock (_lock)
                {
                    var now = Now;
                    for (int i = 0; i < n; i++)
                    {
                        var span = batch[i].Span;
                        if (span.Length < 34 || span[12] != 0x08 || span[13] != 0x00) continue;
                        int ihl = (span[14] & 0xF) * 4;
                        int total = (span[16] << 8) | span[17];
                        var tcp = span.Slice(14 + ihl, total - ihl);
                        ushort port = (ushort)((tcp[0] << 8) | tcp[1]);
                        int index = port - 40000;
                        if (index >= 0 && index < Connections.Count) Connections[index].Peer.ProcessSegment(tcp, now);
                    }
                    foreach (var c in Connections)
                    {
                        int read;
                        while ((read = c.Peer.Receive(buffer)) > 0) PeerBytesRead += read;
                        if (PeerSource is { } source)
                            while (c.Peer.SendQueueBytes < 8 << 20) c.Peer.Enqueue(new MemorySendBuffer(source));
                        c.Peer.Dispatch(now, writer);
                    }
                }
            }
        }

        private void Inject(ReadOnlySpan<byte> tcp)
        {
            var eth = new EthernetRepr(PeerSide.MacAddress, NicSide.MacAddress, EtherType.Ipv4);
            var frame = _pool.Rent();
            eth.Emit(frame.Array);
            new Ipv4Repr(PeerIp, HostIp, IpProtocol.Tcp, tcp.Length, 64, _peerIpId++, dontFragment: true).Emit(frame.Array.AsSpan(eth.BufferLength));
            tcp.CopyTo(frame.Array.AsSpan(eth.BufferLength + 20));
            frame.Length = eth.BufferLength + 20 + tcp.Length;
            while (PeerSide.Send([frame]) == 0 && !_stop) Thread.Yield();
            _pool.Return(frame);
        }

        public void Dispose()
        {
            _stop = true;
            _client?.Dispose();
            _server?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            Target.Dispose();
            _peerThread.Join(2000);
            NicSide.Dispose();
            PeerSide.Dispose();
        }

        private sealed class PeerWriter(Lab lab) : ITcpSegmentWriter
        {
            private readonly byte[] _buffer = new byte[65_536];

            public Span<byte> GetBuffer(int length) => _buffer.AsSpan(0, Math.Min(length, _buffer.Length));

            public void Commit(int length) => lab.Inject(_buffer.AsSpan(0, length));
        }

        private sealed class Collector : ITcpSegmentWriter
        {
            private readonly List<byte[]> _segments = [];
            private readonly byte[] _buffer = new byte[65_536];

            public Span<byte> GetBuffer(int length) => _buffer.AsSpan(0, length);

            public void Commit(int length) => _segments.Add(_buffer.AsSpan(0, length).ToArray());

            public List<byte[]> Take()
            {
                var list = new List<byte[]>(_segments);
                _segments.Clear();
                return list;
            }
        }
    }

    /// <summary>A host that counts and hands things back to the benchmark thread; indications are taken whole and
    /// returned at the next indication (a return inside the indication would be ignored by an in-process target).</summary>
    private sealed class BenchHost : IOffloadHost
    {
        private NetBufferList? _held;

        public IOffloadTarget Api { get; set; } = null!;
        public ConcurrentQueue<NetBufferList> FreeSends { get; } = new();
        public ConcurrentQueue<(OffloadBlock Root, bool Initiate)> Ready { get; } = new();
        public ManualResetEventSlim SendDone { get; } = new(false, 0);
        public ManualResetEventSlim StateDone { get; } = new(false, 0);
        public long BytesIndicated;

        public void InitiateOffloadComplete(OffloadBlock root)
        {
            Ready.Enqueue((root, true));
            StateDone.Set();
        }

        public void TerminateOffloadComplete(OffloadBlock root)
        {
            Ready.Enqueue((root, false));
            StateDone.Set();
        }

        public void UpdateOffloadComplete(OffloadBlock root) { }
        public void InvalidateOffloadComplete(OffloadBlock root) { }
        public void QueryOffloadStateComplete(OffloadBlock root) { }

        public void TcpOffloadSendComplete(NetBufferList chain)
        {
            for (var nbl = chain; nbl is not null;)
            {
                var next = nbl.Next;
                nbl.Next = null;
                FreeSends.Enqueue(nbl);
                nbl = next;
            }
            SendDone.Set();
        }

        public void TcpOffloadReceiveComplete(NetBufferList chain) { }
        public void TcpOffloadDisconnectComplete(NetBufferList nbl) { }
        public void TcpOffloadForwardComplete(NetBufferList chain) { }

        public NdisStatus TcpOffloadReceiveIndicate(ulong ndisOffloadHandle, NetBufferList nbl, NdisStatus status, out int bytesConsumed)
        {
            if (_held is { } previous)
            {
                _held = null;
                Api.TcpOffloadReceiveReturn(previous);
            }
            int length = 0;
            for (int i = 0; i < nbl.BufferCount; i++) length += nbl[i].DataLength;
            Interlocked.Add(ref BytesIndicated, length);
            bytesConsumed = length;
            _held = nbl;
            return NdisStatus.Success;
        }

        public void TcpOffloadEvent(ulong ndisOffloadHandle, TcpOffloadEventType type, uint info) { }
        public void NeighborOffloadEvent(OffloadBlock neighborBlock, NeighborEventCode code) { }
        public void IndicateStatus(NdisStatus adapterStatus) { }
        public void ReceiveFrame(ReadOnlySpan<byte> frame) { }
    }
}
