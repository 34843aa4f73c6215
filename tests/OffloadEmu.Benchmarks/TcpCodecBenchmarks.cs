using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using OffloadEmu.Wire;

namespace OffloadEmu.Benchmarks;

/// <summary>
/// Parse+validate and emit of a full-sized Ethernet + IPv4 + TCP frame (1448 bytes of payload, timestamps option, as
/// Linux sends bulk data at MTU 1500). The Ethernet and IPv4 headers are handled by fixed offsets here because their
/// views live elsewhere; the IPv4 header checksum is still verified and filled so the figures are for a whole frame.
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
        if (frame.Length < TcpOffset || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != (ushort)EtherType.Ipv4) return -1;
        var ip = frame[EthernetLength..];
        if (ip[0] != 0x45 || !InternetChecksum.IsValid(ip[..Ipv4Length]) || ip[9] != (byte)IpProtocol.Tcp) return -1;
        int total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        if (total < Ipv4Length || total > ip.Length) return -1;
        var src = Ipv4Address.Read(ip[12..]);
        var dst = Ipv4Address.Read(ip[16..]);
        if (!TcpSegment.TryCreate(ip[Ipv4Length..total], out var segment, out _)) return -1;
        if (!TcpRepr.TryParse(segment, src, dst, out var repr, out _)) return -1;
        return repr.PayloadLength;
    }

    private static int EmitFrame(Span<byte> frame, in TcpRepr repr, ReadOnlySpan<byte> payload)
    {
        MacAddress.FromUInt64(0x0200C612C902).Write(frame);
        MacAddress.FromUInt64(0x0200C612C901).Write(frame[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(frame[12..], (ushort)EtherType.Ipv4);
        var ip = frame[EthernetLength..];
        int total = Ipv4Length + repr.SegmentBufferLength;
        ip[0] = 0x45;
        ip[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)total);
        BinaryPrimitives.WriteUInt32BigEndian(ip[4..], 0x0000_4000); // id 0, DF
        ip[8] = 64;
        ip[9] = (byte)IpProtocol.Tcp;
        ip[10] = ip[11] = 0;
        Source.Write(ip[12..]);
        Destination.Write(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], InternetChecksum.Compute(ip[..Ipv4Length]));
        repr.Emit(ip[Ipv4Length..], Source, Destination, payload);
        return EthernetLength + total;
    }
}
