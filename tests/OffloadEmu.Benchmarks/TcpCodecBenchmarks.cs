using BenchmarkDotNet.Attributes;
using OffloadEmu.Wire;

namespace OffloadEmu.Benchmarks;

/// <summary>
/// Parse+validate and emit of a full-sized Ethernet + IPv4 + TCP frame (1448 bytes of payload, timestamps option, as
/// Linux sends bulk data at MTU 1500), through the Wire views and reprs the emulator uses on its data path:
/// EthernetFrame → Ipv4Packet (header checksum) → TcpSegment → TcpRepr (TCP checksum, options).
/// </summary>
[MemoryDiagnoser]
public class TcpCodecBenchmarks
{
    private const int EthernetLength = 14;
    private const int Ipv4Length = 20;
    private const int TcpOffset = EthernetLength + Ipv4Length;
    private const int PayloadLength = 1448;

    private static readonly Ipv4Address Source = new(198, 18, 201, 1);
    private static readonly Ipv4Address Destination = new(198, 18, 201, 2);

    private readonly byte[] _frame = new byte[TcpOffset + 32 + PayloadLength];
    private readonly byte[] _output = new byte[TcpOffset + 32 + PayloadLength];
    private readonly byte[] _payload = new byte[PayloadLength];
    private TcpRepr _repr;

    [GlobalSetup]
    public void Setup()
    {
        new Random(7).NextBytes(_payload);
        _repr = new TcpRepr
        {
            SourcePort = 58054,
            DestinationPort = 5001,
            SequenceNumber = new SeqNumber(1537218216),
            AckNumber = new SeqNumber(1799737818),
            Flags = TcpFlags.Psh,
            Window = 63,
            Options = new TcpOptions { Timestamps = new TcpTimestamps(380998298, 2397734014) },
            PayloadLength = PayloadLength,
        };
        EmitFrame(_frame, _repr, _payload);
        if (ParseFrame(_frame) != PayloadLength) throw new InvalidOperationException("benchmark frame does not parse");
    }

    [Benchmark(Description = "parse+validate Eth/IPv4/TCP 1448B+TS (both checksums)")]
    public int ParseAndValidate() => ParseFrame(_frame);

    [Benchmark(Description = "emit Eth/IPv4/TCP 1448B+TS (copy payload, both checksums)")]
    public int Emit() => EmitFrame(_output, _repr, _payload);

    private static int ParseFrame(Span<byte> frame)
    {
        if (!EthernetFrame.TryCreate(frame, out var eth) || eth.EtherType != EtherType.Ipv4) return -1;
        if (!Ipv4Packet.TryCreate(eth.Payload, out var ip) || !ip.VerifyChecksum() || ip.Protocol != IpProtocol.Tcp) return -1;
        if (!TcpSegment.TryCreate(ip.Payload, out var segment, out _)) return -1;
        if (!TcpRepr.TryParse(segment, ip.Source, ip.Destination, out var repr, out _)) return -1;
        return repr.PayloadLength;
    }

    private static int EmitFrame(Span<byte> frame, in TcpRepr repr, ReadOnlySpan<byte> payload)
    {
        var eth = new EthernetRepr(MacAddress.FromUInt64(0x0200C612C901), MacAddress.FromUInt64(0x0200C612C902), EtherType.Ipv4);
        eth.Emit(frame);
        var ip = new Ipv4Repr(Source, Destination, IpProtocol.Tcp, repr.SegmentBufferLength, dontFragment: true);
        ip.Emit(frame[EthernetLength..]);
        repr.Emit(frame[TcpOffset..], Source, Destination, payload);
        return TcpOffset + repr.SegmentBufferLength;
    }
}
