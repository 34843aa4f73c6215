using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Tcp.Tests;

/// <summary>
/// A one-way bulk transfer between two machines over a perfect in-memory path that allocates nothing in steady state:
/// segments go through a fixed ring of buffers, send buffers are recycled when completed, the consumer only counts.
/// </summary>
internal sealed class BulkTransfer : ITcpSegmentWriter, ITcpSendCompletionSink, ITcpReceiveConsumer
{
    private const int Slots = 512;
    private readonly byte[][] _slots = new byte[Slots][];
    private readonly int[] _lengths = new int[Slots];
    private int _count;
    private readonly Queue<ITcpSendBuffer> _free = new(64);
    private long _now = 1_000_000;
    private readonly int _dropEvery;
    private long _dataSegments;
    private readonly int _refuseEvery;
    private long _deliveries;

    public long Dropped { get; private set; }

    public BulkTransfer(bool timestamps = true, int chunk = 64 * 1024, int buffers = 16, int receiveBuffer = 1 << 20, bool sack = false, int dropEvery = 0,
        int refuseEvery = 0, ReceiveBufferPool? pool = null)
    {
        for (int i = 0; i < Slots; i++) _slots[i] = new byte[2048];
        _dropEvery = dropEvery;
        _refuseEvery = refuseEvery;
        var config = new TcpConfig { Timestamps = timestamps, Sack = sack, ReceiveBufferSize = receiveBuffer, AckFrequency = 2, MinRto = TimeSpan.FromMilliseconds(200), IsnGenerator = new IsnGenerator(new byte[32]), ReceiveBufferPool = pool };
        Sender = TcpMachine.Connect(config, TcpEndpointAddresses.Ipv4(new Ipv4Address(10, 2, 0, 1), new Ipv4Address(10, 2, 0, 2)), 40000, 80, Now);
        Receiver = TcpMachine.Listen(config, TcpEndpointAddresses.Ipv4(new Ipv4Address(10, 2, 0, 2), new Ipv4Address(10, 2, 0, 1)), 80);
        Sender.SendCompletionSink = this;
        Receiver.ReceiveConsumer = this;
        var data = new byte[chunk];
        new Random(5).NextBytes(data);
        for (int i = 0; i < buffers; i++) _free.Enqueue(new MemorySendBuffer(data));
        Pump();
        if (Sender.State != TcpState.Established) throw new InvalidOperationException("handshake failed");
    }

    public TcpMachine Sender { get; }

    public TcpMachine Receiver { get; }

    public long BytesReceived { get; private set; }

    public long SegmentsToReceiver { get; private set; }

    private Instant Now => Instant.FromMicroseconds(_now);

    /// <summary>Keeps the sender's queue full and moves segments until at least <paramref name="segments"/> data
    /// segments reached the receiver.</summary>
    public void Run(long segments)
    {
        long target = SegmentsToReceiver + segments;
        while (SegmentsToReceiver < target)
        {
            while (_free.Count > 0) Sender.Enqueue(_free.Dequeue());
            _now += 10; // 10 µs per round: RTT samples stay small and no timer fires
            int moved = Pump();
            // A consumer that refused bytes takes them now: the receive buffer drains and goes back to its pool.
            if (Receiver.ReceiveBufferedBytes > 0) moved += Receiver.DeliverBuffered();
            if (moved == 0)
            {
                // Nothing moved: jump to the next timer (a retransmission or a delayed ACK).
                long next = Math.Min(Sender.PollAt().Microseconds, Receiver.PollAt().Microseconds);
                if (next == long.MaxValue) throw new InvalidOperationException("transfer stalled: " + Sender.DebugState);
                if (next > _now) _now = next;
            }
        }
    }

    private int Pump()
    {
        int moved = 0;
        for (int round = 0; round < 1000; round++)
        {
            int n = Move(Sender, Receiver, toReceiver: true) + Move(Receiver, Sender, toReceiver: false);
            moved += n;
            if (n == 0) break;
        }
        return moved;
    }

    private int Move(TcpMachine from, TcpMachine to, bool toReceiver)
    {
        _count = 0;
        from.Dispatch(Now, this);
        for (int i = 0; i < _count; i++)
        {
            if (toReceiver && _lengths[i] > 60 && _dropEvery > 0 && ++_dataSegments % _dropEvery == 0)
            {
                Dropped++;
                continue;
            }
            to.ProcessSegment(_slots[i].AsSpan(0, _lengths[i]), Now);
            if (toReceiver) SegmentsToReceiver++;
        }
        return _count;
    }

    Span<byte> ITcpSegmentWriter.GetBuffer(int length) => _count < Slots ? _slots[_count].AsSpan(0, length) : Span<byte>.Empty;

    void ITcpSegmentWriter.Commit(int length) => _lengths[_count++] = length;

    void ITcpSendCompletionSink.OnSendCompleted(ITcpSendBuffer buffer, int byteCount) => _free.Enqueue(buffer);

    int ITcpReceiveConsumer.Deliver(ReadOnlySpan<byte> data)
    {
        // Every refuseEvery-th delivery is refused: the bytes are buffered (storage taken from the pool).
        if (_refuseEvery > 0 && ++_deliveries % _refuseEvery == 0) return 0;
        BytesReceived += data.Length;
        return data.Length;
    }
}
