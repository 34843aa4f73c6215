using BenchmarkDotNet.Attributes;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Benchmarks;

/// <summary>
/// The TCP machine in memory, no device. <c>BulkReceive</c>: one receiving machine fed in-order 1448-byte segments with
/// timestamps (checksum verified, parsed, accepted, handed to a consumer, ACKed every second segment). <c>BulkTransfer</c>:
/// a sender and a receiver on one core, per data segment: emit (copy + checksum), receive, and the ACK back.
/// Each operation is <see cref="Segments"/> data segments, so the reported time is per segment.
/// </summary>
[MemoryDiagnoser]
public class TcpMachineBenchmarks : ITcpSegmentWriter, ITcpReceiveConsumer, ITcpSendCompletionSink
{
    private const int Segments = 1024;
    private const int PayloadLength = 1448;
    private static readonly Ipv4Address IpA = new(10, 9, 0, 1);
    private static readonly Ipv4Address IpB = new(10, 9, 0, 2);

    private readonly byte[] _scratch = new byte[2048];
    private readonly byte[][] _slots = new byte[512][];
    private readonly int[] _lengths = new int[512];
    private int _count;
    private bool _collect;
    private long _nowUs = 1_000_000;
    private long _delivered;

    private TcpMachine _receiver = null!;
    private byte[] _segment = null!;
    private SeqNumber _nextSeq;

    private TcpMachine _sender = null!;
    private TcpMachine _peer = null!;
    private readonly Queue<ITcpSendBuffer> _free = new(64);

    [GlobalSetup]
    public void Setup()
    {
        for (int i = 0; i < _slots.Length; i++) _slots[i] = new byte[2048];
        var config = new TcpConfig { ReceiveBufferSize = 1 << 20, IsnGenerator = new IsnGenerator(new byte[32]) };

        // Receive side: a machine established by a scripted handshake, then fed one prepared segment whose sequence
        // number (and checksum, incrementally) is advanced for every delivery.
        _receiver = TcpMachine.Listen(config, TcpEndpointAddresses.Ipv4(IpB, IpA), 80);
        var peerIsn = new SeqNumber(1_000_000);
        Feed(_receiver, new TcpRepr
        {
            SourcePort = 40000, DestinationPort = 80, SequenceNumber = peerIsn, Flags = TcpFlags.Syn, Window = 65535,
            Options = new TcpOptions { MaxSegmentSize = 1460, WindowScale = 7, Timestamps = new TcpTimestamps(1, 0) },
        }, default);
        _collect = false;
        _receiver.Dispatch(Now, this);
        var ack = _receiver.Iss + 1;
        Feed(_receiver, new TcpRepr
        {
            SourcePort = 40000, DestinationPort = 80, SequenceNumber = peerIsn + 1, AckNumber = ack, Window = 4096,
            Options = new TcpOptions { Timestamps = new TcpTimestamps(2, 0) },
        }, default);
        if (_receiver.State != TcpState.Established) throw new InvalidOperationException("receiver handshake failed");
        _receiver.ReceiveConsumer = this;
        var data = new TcpRepr
        {
            SourcePort = 40000, DestinationPort = 80, SequenceNumber = peerIsn + 1, AckNumber = ack, Window = 4096, Flags = TcpFlags.Psh,
            Options = new TcpOptions { Timestamps = new TcpTimestamps(3, 0) }, PayloadLength = PayloadLength,
        };
        _segment = new byte[data.SegmentBufferLength];
        data.Emit(_segment, IpA, IpB, new byte[PayloadLength]);
        _nextSeq = peerIsn + 1;

        // Transfer: two machines.
        _sender = TcpMachine.Connect(config, TcpEndpointAddresses.Ipv4(IpA, IpB), 40001, 81, Now);
        _peer = TcpMachine.Listen(config, TcpEndpointAddresses.Ipv4(IpB, IpA), 81);
        _sender.SendCompletionSink = this;
        _peer.ReceiveConsumer = this;
        var chunk = new byte[64 * 1024];
        for (int i = 0; i < 16; i++) _free.Enqueue(new MemorySendBuffer(chunk));
        while (Move(_sender, _peer) + Move(_peer, _sender) > 0) { }
        if (_sender.State != TcpState.Established) throw new InvalidOperationException("transfer handshake failed");
    }

    private Instant Now => Instant.FromMicroseconds(_nowUs);

    [Benchmark(Description = "bulk receive: in-order 1448B+TS segment (verify, parse, deliver, ACK/2)", OperationsPerInvoke = Segments)]
    public long BulkReceive()
    {
        _collect = false;
        var tcp = _segment.AsSpan();
        for (int i = 0; i < Segments; i++)
        {
            // Advance the sequence number in place and patch the checksum (RFC 1624) instead of re-emitting.
            var segment = TcpSegment.CreateUnchecked(tcp);
            var old = segment.SequenceNumber;
            segment.SequenceNumber = _nextSeq;
            segment.Checksum = InternetChecksum.Update(segment.Checksum, old.Value, _nextSeq.Value);
            _nextSeq += PayloadLength;
            _receiver.ProcessSegment(tcp, Now);
            if ((i & 1) == 1) _receiver.Dispatch(Now, this);
        }
        return _delivered;
    }

    [Benchmark(Description = "bulk transfer: sender emit + receiver process + ACK, per data segment", OperationsPerInvoke = Segments)]
    public long BulkTransfer()
    {
        long target = _delivered + (long)Segments * PayloadLength;
        while (_delivered < target)
        {
            while (_free.Count > 0) _sender.Enqueue(_free.Dequeue());
            _nowUs += 10;
            Move(_sender, _peer);
            Move(_peer, _sender);
        }
        return _delivered;
    }

    private int Move(TcpMachine from, TcpMachine to)
    {
        _collect = true;
        _count = 0;
        from.Dispatch(Now, this);
        for (int i = 0; i < _count; i++) to.ProcessSegment(_slots[i].AsSpan(0, _lengths[i]), Now);
        return _count;
    }

    private void Feed(TcpMachine machine, TcpRepr repr, ReadOnlySpan<byte> payload)
    {
        repr = repr with { PayloadLength = payload.Length };
        var bytes = new byte[repr.SegmentBufferLength];
        repr.Emit(bytes, IpA, IpB, payload);
        machine.ProcessSegment(bytes, Now);
    }

    Span<byte> ITcpSegmentWriter.GetBuffer(int length)
        => !_collect ? _scratch.AsSpan(0, length) : _count < _slots.Length ? _slots[_count].AsSpan(0, length) : Span<byte>.Empty;

    void ITcpSegmentWriter.Commit(int length)
    {
        if (_collect) _lengths[_count++] = length;
    }

    int ITcpReceiveConsumer.Deliver(ReadOnlySpan<byte> data)
    {
        _delivered += data.Length;
        return data.Length;
    }

    void ITcpSendCompletionSink.OnSendCompleted(ITcpSendBuffer buffer, int byteCount) => _free.Enqueue(buffer);
}
