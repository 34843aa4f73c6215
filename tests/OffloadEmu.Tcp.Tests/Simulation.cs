using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Tcp.Tests;

/// <summary>
/// Two machines joined by a seeded impaired path: every segment either is dropped, delivered late (reordering through
/// jitter), delivered twice, or delivered with one bit flipped (the receiver must drop it by checksum). Both sides send
/// a known byte pattern, then close; consumers check every byte arrives exactly once and in order. Deterministic from
/// the seed: a failure message names the seed so the run can be replayed.
/// </summary>
internal sealed class Simulation
{
    private static readonly Ipv4Address IpA = new(10, 0, 0, 1);
    private static readonly Ipv4Address IpB = new(10, 0, 0, 2);

    private readonly Random _rng;
    private readonly Impairment _impairment;
    private readonly PriorityQueue<Packet, (long, long)> _inFlight = new();
    private readonly SegmentCollector _out = new();
    private long _sequence;
    private long _now = 1_000_000;

    public Simulation(int seed, Impairment impairment, int bufferSize, int bytesEachWay, bool timestamps, Func<OffloadEmu.Tcp.Congestion.ICongestionControl>? congestion = null, bool sack = false,
        Func<TcpConfig, TcpConfig>? tweakB = null)
    {
        Seed = seed;
        _rng = new Random(seed);
        _impairment = impairment;
        BytesEachWay = bytesEachWay;
        var config = new TcpConfig
        {
            ReceiveBufferSize = bufferSize,
            Timestamps = timestamps,
            MinRto = TimeSpan.FromMilliseconds(200),
            MaxRT = uint.MaxValue,
            Msl = TimeSpan.FromSeconds(1),
            CongestionControlFactory = congestion,
            Sack = sack,
            IsnGenerator = new IsnGenerator(BitConverter.GetBytes((long)seed).Concat(new byte[24]).ToArray()),
        };
        _config = config;
        A = TcpMachine.Connect(config, TcpEndpointAddresses.Ipv4(IpA, IpB), 40000, 80, Now);
        B = TcpMachine.Listen(tweakB is null ? config : tweakB(config), TcpEndpointAddresses.Ipv4(IpB, IpA), 80);
        ConsumerA = new PatternConsumer(salt: 2, _rng);
        ConsumerB = new PatternConsumer(salt: 1, _rng);
        A.ReceiveConsumer = ConsumerA;
        B.ReceiveConsumer = ConsumerB;
        Enqueue(A, salt: 1);
    }

    public int Seed { get; }

    /// <summary>When positive, machine A is exported and re-imported (a terminate + re-offload) every this many steps.</summary>
    public int MigrateEvery { get; init; }

    public int Migrations { get; private set; }

    private int _steps;
    private readonly TcpConfig _config;

    public int BytesEachWay { get; }

    public TcpMachine A { get; private set; }

    public TcpMachine B { get; }

    public PatternConsumer ConsumerA { get; }

    public PatternConsumer ConsumerB { get; }

    public int Lost { get; private set; }

    public int Duplicated { get; private set; }

    public int[] CorruptedTo { get; } = new int[2];

    public int Delivered { get; private set; }

    private Instant Now => Instant.FromMicroseconds(_now);

    private bool _serverStarted;
    private bool _clientClosed;

    private void Enqueue(TcpMachine machine, int salt)
    {
        // Several buffers of uneven sizes, so completions and cross-buffer segments are exercised.
        int offset = 0;
        var data = PatternConsumer.Pattern(salt, BytesEachWay);
        while (offset < BytesEachWay)
        {
            int n = Math.Min(BytesEachWay - offset, 1 + _rng.Next(20_000));
            Assert.True(machine.Enqueue(new MemorySendBuffer(data.AsMemory(offset, n))));
            offset += n;
        }
    }

    /// <summary>Runs to completion or until <paramref name="limit"/> of simulated time; returns a description of the
    /// failure, or null.</summary>
    public string? Run(TimeSpan limit)
    {
        long end = _now + limit.Ticks / 10;
        int idle = 0;
        while (_now < end)
        {
            Pump(A, toB: true);
            Pump(B, toB: false);
            if (!_serverStarted && B.State is TcpState.Established or TcpState.CloseWait)
            {
                _serverStarted = true;
                Enqueue(B, salt: 2);
                B.Close();
                Pump(B, toB: false);
            }
            if (!_clientClosed && A.State == TcpState.Established)
            {
                // CLOSE in SYN-SENT would abort (RFC 9293 §3.10.4), so the client closes once established.
                _clientClosed = true;
                A.Close();
                Pump(A, toB: true);
            }
            if (Done) return null;

            long next = Math.Min(A.PollAt().Microseconds, B.PollAt().Microseconds);
            if (_inFlight.TryPeek(out _, out var head)) next = Math.Min(next, head.Item1);
            if (next == long.MaxValue)
            {
                if (++idle > 3) return "stalled: nothing scheduled";
                continue;
            }
            idle = 0;
            if (next > _now) _now = next;
            while (_inFlight.TryPeek(out var packet, out var at) && at.Item1 <= _now)
            {
                _inFlight.Dequeue();
                var target = packet.ToB ? B : A;
                // Counted on delivery: a run may end with damaged segments still in flight.
                if (packet.Corrupted) CorruptedTo[packet.ToB ? 1 : 0]++;
                target.ProcessSegment(packet.Bytes, Now);
                Delivered++;
            }
            // The consumers may have refused data; offer it again (the chimney delivery loop would).
            A.DeliverBuffered();
            B.DeliverBuffered();
            if (MigrateEvery > 0 && ++_steps % MigrateEvery == 0) Migrate();
        }
        return "time limit reached";
    }

    // Terminate offload of A (owed ACKs flushed first, spec §6.6) and initiate it again from the exported state.
    private void Migrate()
    {
        if (A.State is not (TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2 or TcpState.CloseWait or TcpState.Closing or TcpState.LastAck))
            return;
        Pump(A, toB: true);
        var delegated = A.ExportDelegatedState(Now);
        var buffers = new List<ITcpSendBuffer>();
        int headOffset = A.CopySendBuffers(buffers);
        var received = new byte[A.ReceiveBufferedBytes];
        A.Receive(received);
        var events = A.PendingEvents;
        A = TcpMachine.FromOffloadState(_config, A.Addresses, A.ExportConstState(), A.ExportCachedState(), delegated,
            buffers.ToArray(), headOffset, received, Now);
        A.ReceiveConsumer = ConsumerA;
        A.DeliverBuffered();
        _ = events;
        Migrations++;
    }

    public bool Done
        => ConsumerA.Received == BytesEachWay && ConsumerB.Received == BytesEachWay
           && A.State is TcpState.TimeWait or TcpState.Closed && B.State is TcpState.TimeWait or TcpState.Closed;

    public string Describe()
        => $"seed={Seed} impairment={_impairment} A={A.State} B={B.State} rxA={ConsumerA.Received} rxB={ConsumerB.Received} "
           + $"lost={Lost} dup={Duplicated} corruptToA={CorruptedTo[0]} corruptToB={CorruptedTo[1]} "
           + $"retxA={A.Statistics.RetransmittedSegments} retxB={B.Statistics.RetransmittedSegments} "
           + $"outA={A.Statistics.OutSegments} outB={B.Statistics.OutSegments} eventsA={A.PendingEvents} eventsB={B.PendingEvents} "
           + $"errA={ConsumerA.Error} errB={ConsumerB.Error}\n  A: {A.DebugState}\n  B: {B.DebugState}\n  now={Now}";

    /// <summary>The first wire-level invariant broken, if any: an offered window whose right edge moved left
    /// (RFC 9293 SHLD-14) or a segment beyond what the sender has sent.</summary>
    public string? WireViolation { get; private set; }

    private readonly SeqNumber?[] _rightEdge = new SeqNumber?[2];

    private void Pump(TcpMachine machine, bool toB)
    {
        _out.Segments.Clear();
        machine.Dispatch(Now, _out);
        foreach (var bytes in _out.Segments)
        {
            Check(machine, bytes, toB ? 0 : 1);
            Transmit(bytes, toB);
        }
    }

    private void Check(TcpMachine sender, byte[] bytes, int direction)
    {
        if (!TcpSegment.TryCreate(bytes, out var segment) || !TcpRepr.TryParseUnverified(segment, out var repr, out _))
        {
            WireViolation ??= "unparsable segment emitted";
            return;
        }
        var flags = repr.Flags;
        if (repr.SequenceNumber + repr.SegmentLength > sender.SndMax)
            WireViolation ??= $"segment beyond SndMax: {repr}";
        if (repr.AckNumber is not SeqNumber ack || (flags & (TcpFlags.Syn | TcpFlags.Rst)) != 0) return;
        var edge = ack + (repr.Window << sender.RcvWindScale);
        // Scaling rounds the field down, so an edge may appear up to 2^shift − 1 bytes left of the true one.
        if (_rightEdge[direction] is SeqNumber previous && edge + ((1 << sender.RcvWindScale) - 1) < previous)
            WireViolation ??= $"right edge moved left: {previous} -> {edge} ({repr})";
        if (_rightEdge[direction] is not SeqNumber p || edge > p) _rightEdge[direction] = edge;
    }

    private void Transmit(byte[] bytes, bool toB)
    {
        if (_rng.NextDouble() < _impairment.Loss)
        {
            Lost++;
            return;
        }
        int copies = _rng.NextDouble() < _impairment.Duplicate ? 2 : 1;
        if (copies == 2) Duplicated++;
        for (int i = 0; i < copies; i++)
        {
            var copy = (byte[])bytes.Clone();
            bool corrupted = _rng.NextDouble() < _impairment.Corrupt;
            if (corrupted) copy[_rng.Next(copy.Length)] ^= (byte)(1 << _rng.Next(8));
            long at = _now + _impairment.DelayUs + (_impairment.JitterUs > 0 ? _rng.NextInt64(_impairment.JitterUs) : 0);
            _inFlight.Enqueue(new Packet(copy, toB, corrupted), (at, _sequence++));
        }
    }

    private readonly record struct Packet(byte[] Bytes, bool ToB, bool Corrupted);
}

/// <summary>Checks that received bytes follow the sender's pattern, in order, each once; accepts random amounts.</summary>
internal sealed class PatternConsumer : ITcpReceiveConsumer
{
    private readonly int _salt;
    private readonly Random _rng;

    public PatternConsumer(int salt, Random rng)
    {
        _salt = salt;
        _rng = rng;
    }

    public long Received { get; private set; }

    public string? Error { get; private set; }

    public static byte PatternByte(int salt, long offset) => (byte)(offset * 31 + salt * 7 + (offset >> 9));

    public static byte[] Pattern(int salt, int length)
    {
        var data = new byte[length];
        for (int i = 0; i < length; i++) data[i] = PatternByte(salt, i);
        return data;
    }

    public int Deliver(ReadOnlySpan<byte> data)
    {
        // Sometimes take everything, sometimes part, sometimes nothing (back-pressure on the window).
        int roll = _rng.Next(10);
        int take = roll < 7 ? data.Length : roll < 9 ? _rng.Next(data.Length + 1) : 0;
        for (int i = 0; i < take; i++)
        {
            if (data[i] != PatternByte(_salt, Received + i) && Error is null)
                Error = $"byte {Received + i} differs";
        }
        Received += take;
        return take;
    }
}
