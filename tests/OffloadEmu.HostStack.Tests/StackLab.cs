using OffloadEmu.Link;
using OffloadEmu.Link.Decorators;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;

namespace OffloadEmu.HostStack.Tests;

/// <summary>
/// A deterministic lab: the host stack over the real offload target in manual mode on one end of a
/// <see cref="MemoryLink"/>, and a peer on the other end that answers ARP and runs TCP machines. One thread, a manual
/// clock; application continuations run inline inside the stack's and the completion queue's rounds.
/// </summary>
internal sealed class StackLab : IDisposable
{
    public static readonly Ipv4Address HostIp = new(198, 18, 0, 2);
    public static readonly Ipv4Address PeerIp = new(198, 18, 0, 1);
    public static readonly Ipv6Address HostIp6 = Ipv6Address.Parse("fd00:198:18::2");
    public static readonly Ipv6Address PeerIp6 = Ipv6Address.Parse("fd00:198:18::1");

    private readonly FramePool _pool = new();
    private readonly FrameBuffer[] _batch;
    private readonly PeerWriter _writer;
    private readonly ImpairmentDevice? _impaired;
    private ushort _peerIpId = 1;

    public StackLab(HostStackOptions? options = null, OffloadTargetOptions? targetOptions = null, TcpConfig? peerConfig = null,
        Func<IOffloadTarget, IOffloadTarget>? decorate = null, ImpairmentSpec? impairment = null, ulong impairmentSeed = 0)
    {
        // Application continuations must run inline inside the lab's rounds (deterministic, one thread): no xunit
        // synchronization context to post them to.
        SynchronizationContext.SetSynchronizationContext(null);
        MemoryLink.CreatePair(out var nic, out var peer);
        NicSide = nic;
        PeerSide = peer;
        Queue = CompletionQueue.CreateManual();
        // Impairment (loss, duplication; no delay: the lab's clock is not the decorator's) sits on the target's device,
        // so both directions of the wire are damaged.
        _impaired = impairment is null ? null : new ImpairmentDevice(nic, impairment, impairment, impairmentSeed);
        Target = new OffloadTarget(_impaired ?? (ILinkDevice)nic, targetOptions, Queue);
        Options = options ?? new HostStackOptions();
        Options = Options with
        {
            Address = HostIp,
            PrefixLength = 24,
            Address6 = HostIp6,
            PrefixLength6 = 64,
            Tcp = Options.Tcp with { IsnGenerator = new IsnGenerator(new byte[32]) },
            EphemeralPortOffset = Options.EphemeralPortOffset ?? 0,   // repeatable ports (and so ISNs) per seed
        };
        // The contract checker sits between the stack and everything below it (record mode): a rule broken by either
        // side fails the test at Dispose.
        Checker = new ContractChecker(decorate is null ? Target : decorate(Target), new ContractCheckerOptions { Mode = ContractCheckerMode.Record });
        Stack = new HostStack(Checker, Options);
        PeerConfig = peerConfig ?? TcpConfig.Default with { ReceiveBufferSize = 256 * 1024, Sack = true, IsnGenerator = new IsnGenerator(new byte[32] { 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8 }) };
        // IPv6 + TCP headers are 20 bytes longer than IPv4 + TCP: the peer's IPv6 MSS is 20 smaller (as a kernel's is).
        PeerConfig6 = PeerConfig with { Mss = (ushort)(PeerConfig.Mss - 20) };
        _batch = new FrameBuffer[64];
        for (int i = 0; i < _batch.Length; i++) _batch[i] = _pool.Rent();
        _writer = new PeerWriter(this);
        Now = Instant.FromSeconds(1000);
    }

    public MemoryLink NicSide { get; }
    public MemoryLink PeerSide { get; }
    public CompletionQueue Queue { get; }
    public OffloadTarget Target { get; }
    /// <summary>The contract checker the stack talks through.</summary>
    public ContractChecker Checker { get; }
    /// <summary>Rules a test breaks on purpose.</summary>
    public HashSet<ContractRule> ExpectedViolations { get; } = [];
    public HostStack Stack { get; }
    public HostStackOptions Options { get; }
    public TcpConfig PeerConfig { get; }
    public TcpConfig PeerConfig6 { get; }

    /// <summary>The peer answers neighbour solicitations for <see cref="PeerIp6"/>.</summary>
    public bool PeerAnswersNs { get; set; } = true;

    /// <summary>The MAC the peer puts in its neighbour advertisements (default: its own).</summary>
    public MacAddress? PeerNaMac { get; set; }

    /// <summary>ICMPv6 messages the host sent: IPv6 source, destination, hop limit, Ethernet destination, ICMPv6 bytes.</summary>
    public List<(Ipv6Address Source, Ipv6Address Destination, byte HopLimit, MacAddress EthDestination, byte[] Message)> Icmp6FromHost { get; } = [];
    public Instant Now { get; set; }

    /// <summary>Bytes allocated on this thread while the host stack ran (its rounds and the callbacks the completion
    /// queue runs into it, application continuations included).</summary>
    public long StackAllocatedBytes { get; set; }

    /// <summary>The peer answers ARP requests for <see cref="PeerIp"/>.</summary>
    public bool PeerAnswersArp { get; set; } = true;

    /// <summary>The peer ignores TCP segments from the host side while set (a neighbour gone silent).</summary>
    public bool PeerIgnoresTcp { get; set; }

    /// <summary>The peer's connections by (peer port, host port).</summary>
    public Dictionary<(ushort PeerPort, ushort HostPort), PeerConnection> PeerConnections { get; } = [];

    /// <summary>Ports the peer listens on.</summary>
    public HashSet<ushort> PeerListens { get; } = [];

    /// <summary>Every frame the host side put on the wire (copies).</summary>
    public List<byte[]> WireFromHost { get; } = [];

    public IEnumerable<ArpRepr> ArpFromHost()
    {
        foreach (var frame in WireFromHost)
        {
            var span = frame.AsSpan();
            if (!EthernetFrame.TryCreate(span, out var eth) || eth.EtherType != EtherType.Arp) continue;
            if (ArpPacket.TryCreate(eth.Payload, out var packet) && ArpRepr.TryParse(packet, out var arp)) yield return arp;
        }
    }

    /// <summary>One round: target, completions, stack, target, completions, peer.</summary>
    public int Step()
    {
        int work = Target.Poll(Now);
        long before = GC.GetAllocatedBytesForCurrentThread();
        work += Queue.RunPending();
        work += Stack.Poll(Now);
        StackAllocatedBytes += GC.GetAllocatedBytesForCurrentThread() - before;
        work += Target.Poll(Now);
        before = GC.GetAllocatedBytesForCurrentThread();
        work += Queue.RunPending();
        StackAllocatedBytes += GC.GetAllocatedBytesForCurrentThread() - before;
        work += PeerStep();
        return work;
    }

    public void RunUntil(Func<bool> done, TimeSpan timeout)
    {
        var end = Now + timeout;
        var guard = new LivelockGuard();
        while (true)
        {
            int work = Step();
            if (done()) return;
            if (Now >= end) Assert.Fail($"Condition not reached within {timeout.TotalMilliseconds} ms of simulated time. {Describe()}");
            if (work == 0) Advance(end);
            guard.Check(Now);
        }
    }

    public void RunFor(TimeSpan duration)
    {
        var end = Now + duration;
        var guard = new LivelockGuard();
        while (Now < end)
        {
            if (Step() == 0) Advance(end);
            guard.Check(Now);
        }
        Step();
    }

    /// <summary>One round; when nothing happened, the clock moves to the next timer (at most 1 s).</summary>
    public void StepOrAdvance()
    {
        if (Step() == 0) Advance(Now + TimeSpan.FromSeconds(1));
    }

    public T Run<T>(Task<T> task, TimeSpan? timeout = null)
    {
        RunUntil(() => task.IsCompleted, timeout ?? TimeSpan.FromSeconds(60));
        return task.GetAwaiter().GetResult();
    }

    public void Run(Task task, TimeSpan? timeout = null)
    {
        RunUntil(() => task.IsCompleted, timeout ?? TimeSpan.FromSeconds(60));
        task.GetAwaiter().GetResult();
    }

    private void Advance(Instant limit)
    {
        var next = Instant.Min(Target.NextWake, Stack.NextWake);
        foreach (var p in PeerConnections.Values) next = Instant.Min(next, p.Machine.PollAt());
        next = Instant.Min(next, limit);
        if (next <= Now) next = Now.AddMicroseconds(1000);
        Now = next;
    }

    // ---- the peer ----

    /// <summary>The peer opens a connection to the host over IPv6.</summary>
    public PeerConnection PeerConnect6(ushort peerPort, ushort hostPort)
    {
        var m = TcpMachine.Connect(PeerConfig6, TcpEndpointAddresses.Ipv6(PeerIp6, HostIp6), peerPort, hostPort, Now);
        var p = new PeerConnection(m) { IsIpv6 = true };
        PeerConnections[(peerPort, hostPort)] = p;
        return p;
    }

    /// <summary>The peer opens a connection to the host.</summary>
    public PeerConnection PeerConnect(ushort peerPort, ushort hostPort)
    {
        var m = TcpMachine.Connect(PeerConfig, TcpEndpointAddresses.Ipv4(PeerIp, HostIp), peerPort, hostPort, Now);
        var p = new PeerConnection(m);
        PeerConnections[(peerPort, hostPort)] = p;
        return p;
    }

    private int PeerStep()
    {
        int work = 0;
        int n;
        while ((n = PeerSide.Receive(_batch, 0)) > 0)
        {
            for (int i = 0; i < n; i++)
            {
                var copy = _batch[i].Span.ToArray();
                WireFromHost.Add(copy);
                work++;
                PeerReceive(copy);
            }
        }
        Span<byte> buffer = stackalloc byte[16384];
        foreach (var p in PeerConnections.Values)
        {
            if (p.Reads)
            {
                int read;
                while ((read = p.Machine.Receive(buffer)) > 0)
                {
                    p.Received.Write(buffer[..read]);
                    work++;
                }
            }
            _writer.Target = p;
            work += p.Machine.Dispatch(Now, _writer);
            p.Events |= p.Machine.TakeEvents();
        }
        return work;
    }

    private void PeerReceive(byte[] frame)
    {
        var span = frame.AsSpan();
        if (!EthernetFrame.TryCreate(span, out var eth)) return;
        HostMac = eth.Source;
        if (eth.EtherType == EtherType.Arp)
        {
            if (!ArpPacket.TryCreate(eth.Payload, out var packet) || !ArpRepr.TryParse(packet, out var arp)) return;
            if (arp.Operation == ArpOperation.Request && arp.TargetProtocolAddress == PeerIp && PeerAnswersArp)
            {
                var reply = new ArpRepr(ArpOperation.Reply, PeerSide.MacAddress, PeerIp, arp.SenderHardwareAddress, arp.SenderProtocolAddress);
                var bytes = new byte[14 + 28];
                new EthernetRepr(PeerSide.MacAddress, arp.SenderHardwareAddress, EtherType.Arp).Emit(bytes);
                reply.Emit(bytes.AsSpan(14));
                Inject(bytes);
            }
            return;
        }
        if (eth.EtherType == EtherType.Ipv6)
        {
            PeerReceive6(eth);
            return;
        }
        if (eth.EtherType != EtherType.Ipv4) return;
        if (!Ipv4Packet.TryCreate(eth.Payload, out var ip)) return;
        if (ip.Protocol == IpProtocol.Icmp)
        {
            IcmpFromHost.Add(ip.Payload.ToArray());
            return;
        }
        if (ip.Protocol != IpProtocol.Tcp || !TcpSegment.TryCreate(ip.Payload, out var tcp)) return;
        if (PeerIgnoresTcp) return;
        var key = (tcp.DestinationPort, tcp.SourcePort);
        if (!PeerConnections.TryGetValue(key, out var p))
        {
            if (!PeerListens.Contains(tcp.DestinationPort) || (tcp.Flags & TcpFlags.Syn) == 0) return;
            p = new PeerConnection(TcpMachine.Listen(PeerConfig, TcpEndpointAddresses.Ipv4(PeerIp, HostIp), tcp.DestinationPort));
            PeerConnections[key] = p;
        }
        p.Machine.ProcessSegment(ip.Payload, Now);
    }

    private void PeerReceive6(EthernetFrame eth)
    {
        if (!Ipv6Packet.TryCreate(eth.Payload, out var ip)) return;
        if (ip.UpperLayerProtocol == IpProtocol.Icmpv6)
        {
            var message = ip.UpperLayerPayload;
            Icmp6FromHost.Add((ip.Source, ip.Destination, ip.HopLimit, eth.Destination, message.ToArray()));
            if (!Icmpv6Packet.TryCreate(message, out var packet) || !Icmpv6Repr.TryParse(packet, ip.Source, ip.Destination, out var icmp)) return;
            if (icmp.Type == Icmpv6Type.NeighborSolicitation && icmp.TargetAddress == PeerIp6 && PeerAnswersNs)
            {
                var na = Icmpv6Repr.NeighborAdvertisement(NeighborAdvertisementFlags.Solicited | NeighborAdvertisementFlags.Override, PeerIp6, PeerNaMac ?? PeerSide.MacAddress);
                var bytes = new byte[na.BufferLength];
                na.Emit(bytes, PeerIp6, ip.Source);
                Inject(FrameFromPeer6(IpProtocol.Icmpv6, bytes, hopLimit: 255, destination: ip.Source, ethSource: PeerNaMac));
            }
            return;
        }
        if (ip.UpperLayerProtocol != IpProtocol.Tcp || !TcpSegment.TryCreate(ip.UpperLayerPayload, out var tcp)) return;
        if (PeerIgnoresTcp) return;
        var key = (tcp.DestinationPort, tcp.SourcePort);
        if (!PeerConnections.TryGetValue(key, out var p))
        {
            if (!PeerListens.Contains(tcp.DestinationPort) || (tcp.Flags & TcpFlags.Syn) == 0) return;
            p = new PeerConnection(TcpMachine.Listen(PeerConfig6, TcpEndpointAddresses.Ipv6(PeerIp6, HostIp6), tcp.DestinationPort)) { IsIpv6 = true };
            PeerConnections[key] = p;
        }
        p.Machine.ProcessSegment(ip.UpperLayerPayload, Now);
    }

    /// <summary>Wraps an IP payload from the peer into Ethernet + IPv6 (from <see cref="PeerIp6"/> unless
    /// <paramref name="source"/>; to the host's address and MAC unless told).</summary>
    public byte[] FrameFromPeer6(IpProtocol protocol, ReadOnlySpan<byte> payload, byte hopLimit = 64, Ipv6Address? destination = null,
        MacAddress? ethDestination = null, Ipv6Address? source = null, MacAddress? ethSource = null)
    {
        var eth = new EthernetRepr(ethSource ?? PeerSide.MacAddress, ethDestination ?? NicSide.MacAddress, EtherType.Ipv6);
        var frame = new byte[eth.BufferLength + 40 + payload.Length];
        eth.Emit(frame);
        new Ipv6Repr(source ?? PeerIp6, destination ?? HostIp6, protocol, payload.Length, hopLimit).Emit(frame.AsSpan(eth.BufferLength));
        payload.CopyTo(frame.AsSpan(eth.BufferLength + 40));
        return frame;
    }

    /// <summary>ICMP messages the host sent (IP payloads).</summary>
    public List<byte[]> IcmpFromHost { get; } = [];

    public MacAddress HostMac { get; private set; }

    /// <summary>Sends a raw Ethernet frame from the peer's side.</summary>
    public void Inject(ReadOnlySpan<byte> frame)
    {
        var buffer = _pool.Rent();
        frame.CopyTo(buffer.Array);
        buffer.Length = frame.Length;
        PeerSide.Send([buffer]);
        _pool.Return(buffer);
    }

    /// <summary>Wraps an IP payload from the peer into Ethernet + IPv4 addressed to the host.</summary>
    public byte[] FrameFromPeer(IpProtocol protocol, ReadOnlySpan<byte> payload, MacAddress? destination = null)
    {
        var eth = new EthernetRepr(PeerSide.MacAddress, destination ?? NicSide.MacAddress, EtherType.Ipv4);
        var frame = new byte[eth.BufferLength + 20 + payload.Length];
        eth.Emit(frame);
        new Ipv4Repr(PeerIp, HostIp, protocol, payload.Length, 64, _peerIpId++, dontFragment: true).Emit(frame.AsSpan(eth.BufferLength));
        payload.CopyTo(frame.AsSpan(eth.BufferLength + 20));
        return frame;
    }

    /// <summary>State of everything, for failure messages.</summary>
    public string Describe()
    {
        var sb = new System.Text.StringBuilder();
        var st = Stack.Statistics;
        sb.Append($"stack: conns={Stack.ConnectionCount} rx={st.FramesReceived} tx={st.FramesSent} drop={st.FramesDropped} off={st.OffloadsSucceeded}/{st.OffloadsFailed} up={st.Uploads}; ");
        sb.Append($"target: conns={Target.ConnectionCount} up={Target.FramesUp}; ");
        foreach (var (k, p) in PeerConnections)
            sb.Append($"peer {k}: {p.Machine.State} una={p.Machine.SndUna} nxt={p.Machine.SndNxt} rcvnxt={p.Machine.RcvNxt} wnd={p.Machine.SndWnd} queued={p.Machine.SendQueueBytes} recv={p.Received.Length} ev={p.Events}; ");
        foreach (var line in Stack.DescribeConnections()) sb.Append(line).Append("; ");
        return sb.ToString();
    }

    public void Dispose()
    {
        Stack.Dispose();
        var unexpected = Checker.Violations.Where(v => !ExpectedViolations.Contains(v.Rule)).ToList();
        Target.Dispose();
        _impaired?.Dispose();
        NicSide.Dispose();
        PeerSide.Dispose();
        Assert.True(unexpected.Count == 0, "contract violations: " + string.Join("; ", unexpected));
    }

    private struct LivelockGuard
    {
        private const int MaxRoundsAtOneInstant = 100_000;
        private Instant _at;
        private int _rounds;

        public void Check(Instant now)
        {
            if (now != _at) { _at = now; _rounds = 0; return; }
            if (++_rounds > MaxRoundsAtOneInstant)
                Assert.Fail($"Livelock: {MaxRoundsAtOneInstant} rounds did work at {now} without the clock advancing.");
        }
    }

    private sealed class PeerWriter(StackLab lab) : ITcpSegmentWriter
    {
        private readonly byte[] _buffer = new byte[65_536];

        public PeerConnection? Target { get; set; }

        public Span<byte> GetBuffer(int length) => _buffer.AsSpan(0, Math.Min(length, _buffer.Length));

        public void Commit(int length)
        {
            if (Target is { IsIpv6: true }) lab.Inject(lab.FrameFromPeer6(IpProtocol.Tcp, _buffer.AsSpan(0, length)));
            else lab.InjectPeerTcp(_buffer.AsSpan(0, length));
        }
    }

    /// <summary>The peer's TCP segments are sent as IPv4 fragments carrying at most this many payload bytes each
    /// (a multiple of 8; 0 = whole datagrams).</summary>
    public int PeerFragmentSize { get; set; }

    /// <summary>With <see cref="PeerFragmentSize"/>: the fragments go out last first.</summary>
    public bool PeerFragmentsReversed { get; set; }

    /// <summary>IPv4 options added to the peer's TCP datagrams (a multiple of 4 bytes; empty = none).</summary>
    public byte[] PeerIpOptions { get; set; } = [];

    private void InjectPeerTcp(ReadOnlySpan<byte> segment)
    {
        if (PeerFragmentSize == 0 && PeerIpOptions.Length == 0)
        {
            Inject(FrameFromPeer(IpProtocol.Tcp, segment));
            return;
        }
        ushort id = _peerIpId++;
        int chunk = PeerFragmentSize == 0 ? segment.Length : PeerFragmentSize;
        var frames = new List<byte[]>();
        for (int offset = 0; offset < segment.Length || offset == 0; offset += chunk)
        {
            int n = Math.Min(chunk, segment.Length - offset);
            bool more = offset + n < segment.Length;
            frames.Add(PeerDatagram(segment.Slice(offset, n), id, offset, more, PeerFragmentSize != 0));
            if (!more) break;
        }
        if (PeerFragmentsReversed) frames.Reverse();
        foreach (var f in frames) Inject(f);
    }

    private byte[] PeerDatagram(ReadOnlySpan<byte> payload, ushort id, int offset, bool more, bool fragmenting)
    {
        var eth = new EthernetRepr(PeerSide.MacAddress, NicSide.MacAddress, EtherType.Ipv4);
        int header = 20 + PeerIpOptions.Length;
        var frame = new byte[eth.BufferLength + header + payload.Length];
        eth.Emit(frame);
        var ip = frame.AsSpan(eth.BufferLength);
        new Ipv4Repr(PeerIp, HostIp, IpProtocol.Tcp, payload.Length, 64, id, dontFragment: !fragmenting, moreFragments: more, fragmentOffset: offset).Emit(ip);
        if (PeerIpOptions.Length > 0)
        {
            // Re-emit with options: IHL, total length and checksum cover them.
            PeerIpOptions.CopyTo(ip[20..]);
            ip[0] = (byte)(0x40 | (header / 4));
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(header + payload.Length));
            ip[10] = 0;
            ip[11] = 0;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Compute(ip[..header]));
        }
        payload.CopyTo(frame.AsSpan(eth.BufferLength + header));
        return frame;
    }
}

/// <summary>One TCP connection of the lab's peer and what its application read.</summary>
internal sealed class PeerConnection(TcpMachine machine)
{
    public TcpMachine Machine { get; } = machine;
    public MemoryStream Received { get; } = new();
    public bool Reads { get; set; } = true;
    public bool IsIpv6 { get; init; }
    public TcpEvents Events { get; set; }

    public void Send(byte[] data) => Assert.True(Machine.Enqueue(new MemorySendBuffer(data)));
}
