using System.Buffers.Binary;
using System.Diagnostics;
using System.Security.Cryptography;
using OffloadEmu.Chimney.State;
using OffloadEmu.Link;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// Drives one <see cref="TcpMachine"/> over one link device against a kernel peer, single-threaded:
/// answers ARP for our address, wraps the machine's segments in IPv4 (DF, TTL 64, incrementing ID) and
/// Ethernet to the peer's MAC, and feeds it the TCP segments of its own 4-tuple (everything else is ignored).
/// The loop receives with a timeout up to <see cref="TcpMachine.PollAt"/>, processes, dispatches; time is a
/// <see cref="Stopwatch"/> mapped to <see cref="Instant"/>. It sends a pseudo-random stream in bounded chunks
/// and hashes what comes back.
/// </summary>
internal sealed class KernelPeerHarness : ITcpSegmentWriter, ITcpReceiveConsumer, ITcpSendCompletionSink
{
    private const int EthernetHeader = 14;
    private const int Ipv4Header = 20;
    private const int Batch = 64;
    private const int ChunkSize = 64 * 1024;
    private const int MaxQueuedChunks = 32;   // bounds memory: at most 2 MiB queued in the machine

    private readonly ILinkDevice _device;
    private readonly MacAddress _ourMac;
    private readonly MacAddress _peerMac;
    private readonly Ipv4Address _ourIp;
    private readonly Ipv4Address _peerIp;
    private readonly FramePool _pool = new(2048, 2 * Batch);
    private readonly FrameBuffer[] _rx = new FrameBuffer[Batch];
    private readonly FrameBuffer[] _tx = new FrameBuffer[Batch];
    private readonly FrameBuffer[] _single = new FrameBuffer[1];
    private int _txCount;
    private ushort _ipId;
    private readonly long _epoch = Stopwatch.GetTimestamp();
    private readonly PseudoRandomPattern _pattern = new(0x0FF1_0AD5_EED5UL);
    private readonly IncrementalHash _sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly IncrementalHash _receivedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private int _queuedChunks;
    private long _generated;

    internal KernelPeerHarness(ILinkDevice device, MacAddress ourMac, MacAddress peerMac, Ipv4Address ourIp, Ipv4Address peerIp,
        ushort localPort, ushort remotePort, TcpConfig config)
    {
        _device = device;
        _ourMac = ourMac;
        _peerMac = peerMac;
        _ourIp = ourIp;
        _peerIp = peerIp;
        for (int i = 0; i < Batch; i++) _rx[i] = _pool.Rent();
        for (int i = 0; i < Batch; i++) _tx[i] = _pool.Rent();
        Machine = TcpMachine.Connect(config, TcpEndpointAddresses.Ipv4(ourIp, peerIp), localPort, remotePort, Now);
        Machine.ReceiveConsumer = this;
        Machine.SendCompletionSink = this;
    }

    internal TcpMachine Machine { get; }

    internal long BytesReceived { get; private set; }

    internal long BytesAcknowledged { get; private set; }

    internal long FramesIgnored { get; private set; }

    internal long ArpRepliesSent { get; private set; }

    internal TcpEvents Events { get; private set; }

    private Instant Now => Instant.FromMicroseconds(1_000_000 + (long)Stopwatch.GetElapsedTime(_epoch).TotalMicroseconds);

    /// <summary>
    /// Sends <paramref name="total"/> bytes, reads the echo concurrently, then closes once everything came back and
    /// runs until our side is CLOSED or TIME_WAIT and the peer's FIN arrived. Returns false on timeout or abort.
    /// </summary>
    internal bool RunEcho(long total, TimeSpan timeout, out string failure)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        bool closeCalled = false;
        while (true)
        {
            Events |= Machine.TakeEvents();
            if ((Events & (TcpEvents.Reset | TcpEvents.RetransmitTimeout | TcpEvents.PersistTimeout | TcpEvents.FinWait2Timeout)) != 0)
            {
                failure = $"connection failed with events {Events}; state {Machine.State}, received {BytesReceived} of {total}";
                return false;
            }
            if (Machine.State == TcpState.Closed && !closeCalled)
            {
                failure = $"connection closed before the transfer finished (events {Events}), received {BytesReceived} of {total}";
                return false;
            }
            if (closeCalled && (Events & TcpEvents.PeerClosed) != 0 && Machine.State is TcpState.TimeWait or TcpState.Closed)
            {
                failure = "";
                return true;
            }
            if (Stopwatch.GetTimestamp() > deadline)
            {
                failure = $"timed out after {timeout.TotalSeconds:F0} s: state {Machine.State}, sent {_generated}, acknowledged {BytesAcknowledged}, " +
                          $"received {BytesReceived} of {total}, events {Events}, retransmissions {Machine.Statistics.RetransmittedSegments}";
                return false;
            }

            if (Machine.State is TcpState.Established or TcpState.SynSent) Refill(total);
            if (!closeCalled && BytesReceived == total && BytesAcknowledged == total)
            {
                Machine.Close();
                closeCalled = true;
            }

            var now = Now;
            Machine.Dispatch(now, this);
            FlushTx();

            long waitUs = Machine.PollAt().Microseconds - now.Microseconds;
            int timeoutMs = (int)Math.Clamp(waitUs / 1000, 0, 10);
            int n = _device.Receive(_rx, timeoutMs);
            now = Now;
            for (int i = 0; i < n; i++) Handle(_rx[i].Span, now);
        }
    }

    /// <summary>SHA-256 of everything sent so far.</summary>
    internal byte[] SentHash() => _sentHash.GetCurrentHash();

    /// <summary>SHA-256 of everything received so far.</summary>
    internal byte[] ReceivedHash() => _receivedHash.GetCurrentHash();

    private void Refill(long total)
    {
        while (_queuedChunks < MaxQueuedChunks && _generated < total)
        {
            var chunk = new byte[(int)Math.Min(ChunkSize, total - _generated)];
            _pattern.Fill(chunk);
            _sentHash.AppendData(chunk);
            if (!Machine.Enqueue(new MemorySendBuffer(chunk))) throw new InvalidOperationException($"Enqueue refused in state {Machine.State}");
            _generated += chunk.Length;
            _queuedChunks++;
        }
    }

    private void Handle(Span<byte> frame, Instant now)
    {
        if (frame.Length < EthernetHeader) { FramesIgnored++; return; }
        ushort etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
        if (etherType == TestFrames.EtherTypeArp)
        {
            AnswerArp(frame);
            return;
        }
        if (etherType != TestFrames.EtherTypeIpv4 || !TryGetOurTcp(frame[EthernetHeader..], out var tcp))
        {
            FramesIgnored++;
            return;
        }
        Machine.ProcessSegment(tcp, now);
    }

    private bool TryGetOurTcp(Span<byte> ip, out Span<byte> tcp)
    {
        tcp = default;
        if (ip.Length < Ipv4Header || ip[0] >> 4 != 4) return false;
        int ihl = (ip[0] & 0xF) * 4;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        if (ihl < Ipv4Header || totalLength < ihl + 20 || totalLength > ip.Length) return false;
        if (ip[9] != (byte)IpProtocol.Tcp) return false;
        if ((BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x3FFF) != 0) return false;   // fragments: not ours
        if (Ipv4Address.Read(ip[12..]) != _peerIp || Ipv4Address.Read(ip[16..]) != _ourIp) return false;
        if (!InternetChecksum.IsValid(ip[..ihl])) return false;
        var segment = ip[ihl..totalLength];
        if (BinaryPrimitives.ReadUInt16BigEndian(segment) != Machine.RemotePort || BinaryPrimitives.ReadUInt16BigEndian(segment[2..]) != Machine.LocalPort)
            return false;
        tcp = segment;
        return true;
    }

    private void AnswerArp(ReadOnlySpan<byte> frame)
    {
        var arp = TestFrames.ParseArp(frame);
        if (arp.Op != 1 || arp.Tpa != _ourIp) return;
        var reply = _pool.Rent();
        try
        {
            reply.Length = TestFrames.ArpReply(reply.Capacity, _ourMac, _ourIp, arp.Sha, arp.Spa);
            _single[0] = reply;
            _device.Send(_single);
            ArpRepliesSent++;
        }
        finally
        {
            _pool.Return(reply);
        }
    }

    Span<byte> ITcpSegmentWriter.GetBuffer(int length)
    {
        if (_txCount == Batch) FlushTx();
        return _tx[_txCount].Capacity.Slice(EthernetHeader + Ipv4Header, length);
    }

    void ITcpSegmentWriter.Commit(int length)
    {
        var frame = _tx[_txCount];
        var span = frame.Capacity;
        new EthernetRepr(_ourMac, _peerMac, EtherType.Ipv4).Emit(span);
        new Ipv4Repr(_ourIp, _peerIp, IpProtocol.Tcp, length, timeToLive: 64, identification: _ipId++, dontFragment: true).Emit(span[EthernetHeader..]);
        frame.Length = EthernetHeader + Ipv4Header + length;
        _txCount++;
    }

    private void FlushTx()
    {
        // The device counts a frame it could not write (full TAP queue) as a drop; recovering it is the machine's job.
        if (_txCount > 0) _device.Send(_tx.AsSpan(0, _txCount));
        _txCount = 0;
    }

    int ITcpReceiveConsumer.Deliver(ReadOnlySpan<byte> data)
    {
        _receivedHash.AppendData(data);
        BytesReceived += data.Length;
        return data.Length;
    }

    void ITcpSendCompletionSink.OnSendCompleted(ITcpSendBuffer buffer, int byteCount)
    {
        BytesAcknowledged += byteCount;
        _queuedChunks--;
    }
}
