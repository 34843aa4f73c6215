using OffloadEmu.Tcp;
using OffloadEmu.Wire;

namespace OffloadEmu.Tcp.Tests;

/// <summary>Two machines that completed a handshake over a perfect in-memory path, for tests that need a real connection.</summary>
internal sealed class ConnectedPair
{
    private readonly SegmentCollector _out = new();

    private ConnectedPair(TcpConfig configA, TcpConfig configB, ManualClock clock)
    {
        ConfigA = configA;
        ConfigB = configB;
        Clock = clock;
        A = TcpMachine.Connect(configA, TcpEndpointAddresses.Ipv4(new Ipv4Address(10, 1, 0, 1), new Ipv4Address(10, 1, 0, 2)), 40000, 80, clock.Now);
        B = TcpMachine.Listen(configB, TcpEndpointAddresses.Ipv4(new Ipv4Address(10, 1, 0, 2), new Ipv4Address(10, 1, 0, 1)), 80);
    }

    public TcpConfig ConfigA { get; }

    public TcpConfig ConfigB { get; }

    public ManualClock Clock { get; }

    public TcpMachine A { get; }

    public TcpMachine B { get; }

    public static ConnectedPair Create(bool timestamps = true, int bufferSize = 256 * 1024, TcpConfig? config = null)
    {
        config ??= new TcpConfig { Timestamps = timestamps, ReceiveBufferSize = bufferSize, IsnGenerator = new IsnGenerator(new byte[32]) };
        var pair = new ConnectedPair(config, config, new ManualClock());
        pair.Exchange();
        Assert.Equal(TcpState.Established, pair.A.State);
        Assert.Equal(TcpState.Established, pair.B.State);
        return pair;
    }

    /// <summary>Moves segments both ways until neither side has anything to send.</summary>
    public int Exchange()
    {
        int total = 0;
        for (int round = 0; round < 10_000; round++)
        {
            int moved = Pump(A, B) + Pump(B, A);
            total += moved;
            if (moved == 0) return total;
        }
        throw new InvalidOperationException("no quiescence");
    }

    private int Pump(TcpMachine from, TcpMachine to)
    {
        _out.Segments.Clear();
        from.Dispatch(Clock.Now, _out);
        foreach (var bytes in _out.Segments) Assert.True(to.ProcessSegment(bytes, Clock.Now));
        return _out.Segments.Count;
    }
}
