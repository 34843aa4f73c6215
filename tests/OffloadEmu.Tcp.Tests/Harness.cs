using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Tcp.Tests;

/// <summary>
/// One machine under test in the style of smoltcp's TCP tests: a manual clock, <c>Send</c> to deliver a segment
/// from the (imaginary) peer as real checksummed bytes, <see cref="Recv"/> to collect what the machine sends (parsed and
/// checksum-verified), and builders that bring the machine to each state.
/// </summary>
internal sealed class Harness
{
    public static readonly Ipv4Address LocalIp = new(192, 168, 1, 1);
    public static readonly Ipv4Address RemoteIp = new(192, 168, 1, 2);
    public const ushort LocalPort = 80;
    public const ushort RemotePort = 49500;
    public static readonly SeqNumber LocalSeq = new(10000);
    public static readonly SeqNumber RemoteSeq = new(20000);
    public const int BufferSize = 4096;
    public static readonly TcpEndpointAddresses Addresses = TcpEndpointAddresses.Ipv4(LocalIp, RemoteIp);

    /// <summary>The segment template a peer sends: ports set, window 4096, no options.</summary>
    public static readonly TcpRepr SendTemplate = new()
    {
        SourcePort = RemotePort,
        DestinationPort = LocalPort,
        Window = 4096,
    };

    /// <summary>The segment template the machine sends (window = the full test buffer).</summary>
    public static readonly TcpRepr RecvTemplate = new()
    {
        SourcePort = LocalPort,
        DestinationPort = RemotePort,
        Window = BufferSize,
    };

    public Harness(TcpMachine machine, ManualClock clock)
    {
        M = machine;
        Clock = clock;
    }

    public TcpMachine M { get; }

    public ManualClock Clock { get; }

    public SegmentCollector Out { get; } = new();

    public Instant Now => Clock.Now;

    public static TcpConfig Config(Func<TcpConfig, TcpConfig>? tweak = null)
    {
        var config = new TcpConfig
        {
            Timestamps = false,
            WindowScaling = false,
            ReceiveBufferSize = BufferSize,
            Mss = 1460,
            IsnGenerator = new IsnGenerator(new byte[32]),
        };
        return tweak is null ? config : tweak(config);
    }

    // ---- driving ----------------------------------------------------------------------------------------------------

    /// <summary>Delivers a segment from the peer (emitted with Wire, checksummed, parsed back by the machine).</summary>
    public bool Send(TcpRepr repr, ReadOnlySpan<byte> payload = default)
    {
        repr = repr with { PayloadLength = payload.Length };
        var bytes = new byte[repr.SegmentBufferLength];
        repr.Emit(bytes, RemoteIp, LocalIp, payload);
        return M.ProcessSegment(bytes, Now);
    }

    public bool Send(TcpRepr repr, string payload) => Send(repr, System.Text.Encoding.ASCII.GetBytes(payload));

    /// <summary>Dispatches and returns every segment written, verifying each checksum.</summary>
    public List<Seg> Recv()
    {
        Out.Segments.Clear();
        M.Dispatch(Now, Out);
        var result = new List<Seg>();
        foreach (var bytes in Out.Segments)
        {
            Assert.True(TcpSegment.TryCreate(bytes, out var segment));
            Assert.True(TcpRepr.TryParse(segment, LocalIp, RemoteIp, out var repr, out var error), $"emitted segment does not parse: {error}");
            result.Add(new Seg(repr, segment.Payload.ToArray()));
        }
        return result;
    }

    /// <summary>Dispatches and expects exactly the given segments (header fields equal; payload lengths checked).</summary>
    public List<Seg> Expect(params TcpRepr[] expected)
    {
        var got = Recv();
        Assert.True(expected.Length == got.Count,
            $"expected {expected.Length} segment(s), got {got.Count}:\n  " + string.Join("\n  ", got));
        for (int i = 0; i < expected.Length; i++)
            Assert.True(expected[i] == got[i].Repr, $"segment {i}:\n  expected {expected[i]}\n  got      {got[i].Repr}");
        return got;
    }

    public void ExpectNothing() => Expect();

    /// <summary>Expects a single segment and returns it.</summary>
    public Seg ExpectOne(TcpRepr expected) => Expect(expected)[0];

    public void Advance(long ms) => Clock.AdvanceMs(ms);

    /// <summary>Queues bytes for sending.</summary>
    public MemorySendBuffer Enqueue(string text)
    {
        var buffer = new MemorySendBuffer(System.Text.Encoding.ASCII.GetBytes(text));
        Assert.True(M.Enqueue(buffer));
        return buffer;
    }

    public MemorySendBuffer Enqueue(byte[] data)
    {
        var buffer = new MemorySendBuffer(data);
        Assert.True(M.Enqueue(buffer));
        return buffer;
    }

    public string ReadAll()
    {
        var buffer = new byte[BufferSize * 4];
        int n = M.Receive(buffer);
        return System.Text.Encoding.ASCII.GetString(buffer, 0, n);
    }

    // ---- state builders -------------------------------------------------------------------------------------------

    public static Harness Listen(TcpConfig? config = null)
    {
        var clock = new ManualClock();
        var m = TcpMachine.Listen(config ?? Config(), Addresses, LocalPort);
        m.IssOverride = LocalSeq;
        return new Harness(m, clock);
    }

    public static Harness SynSent(TcpConfig? config = null)
    {
        var clock = new ManualClock();
        var m = TcpMachine.Connect(config ?? Config(), Addresses, LocalPort, RemotePort, clock.Now, LocalSeq, 0);
        var h = new Harness(m, clock);
        var syn = h.Recv();
        Assert.Single(syn);
        Assert.Equal(TcpFlags.Syn, syn[0].Flags);
        return h;
    }

    public static Harness SynReceived(TcpConfig? config = null)
    {
        var h = Listen(config);
        h.Send(SendTemplate with { Flags = TcpFlags.Syn, SequenceNumber = RemoteSeq, Options = new TcpOptions { MaxSegmentSize = 1460 } });
        var synAck = h.Recv();
        Assert.Single(synAck);
        Assert.Equal(TcpState.SynRcvd, h.M.State);
        return h;
    }

    public static Harness Established(TcpConfig? config = null)
    {
        var h = SynSent(config);
        h.Send(SendTemplate with
        {
            Flags = TcpFlags.Syn,
            SequenceNumber = RemoteSeq,
            AckNumber = LocalSeq + 1,
            Options = new TcpOptions { MaxSegmentSize = 1460 },
        });
        var ack = h.Recv();
        Assert.Single(ack);
        Assert.Equal(TcpState.Established, h.M.State);
        h.M.TakeEvents();
        return h;
    }

    public static Harness FinWait1(TcpConfig? config = null)
    {
        var h = Established(config);
        h.M.Close();
        var fin = h.Recv();
        Assert.Single(fin);
        Assert.Equal(TcpFlags.Fin | TcpFlags.Ack, fin[0].Flags);
        Assert.Equal(TcpState.FinWait1, h.M.State);
        return h;
    }

    public static Harness FinWait2(TcpConfig? config = null)
    {
        var h = FinWait1(config);
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 2 });
        h.ExpectNothing();
        Assert.Equal(TcpState.FinWait2, h.M.State);
        return h;
    }

    public static Harness Closing(TcpConfig? config = null)
    {
        var h = FinWait1(config);
        h.Send(SendTemplate with { Flags = TcpFlags.Fin, SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1 });
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 2, AckNumber = RemoteSeq + 2 });
        Assert.Equal(TcpState.Closing, h.M.State);
        h.M.TakeEvents();
        return h;
    }

    public static Harness TimeWait(TcpConfig? config = null)
    {
        var h = FinWait2(config);
        h.Send(SendTemplate with { Flags = TcpFlags.Fin, SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 2 });
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 2, AckNumber = RemoteSeq + 2 });
        Assert.Equal(TcpState.TimeWait, h.M.State);
        h.M.TakeEvents();
        return h;
    }

    public static Harness CloseWait(TcpConfig? config = null)
    {
        var h = Established(config);
        h.Send(SendTemplate with { Flags = TcpFlags.Fin, SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 1 });
        h.Expect(RecvTemplate with { SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 2 });
        Assert.Equal(TcpState.CloseWait, h.M.State);
        h.M.TakeEvents();
        return h;
    }

    public static Harness LastAck(TcpConfig? config = null)
    {
        var h = CloseWait(config);
        h.M.Close();
        h.Expect(RecvTemplate with { Flags = TcpFlags.Fin, SequenceNumber = LocalSeq + 1, AckNumber = RemoteSeq + 2 });
        Assert.Equal(TcpState.LastAck, h.M.State);
        return h;
    }
}
