using FsCheck;
using FsCheck.Fluent;
using static OffloadEmu.Wire.Tests.TcpGoldenFrames;

namespace OffloadEmu.Wire.Tests;

public class TcpSegmentTests
{
    public static TheoryData<string> V4Frames => new()
    {
        nameof(V4Syn), nameof(V4SynAck), nameof(V4Data), nameof(V4Fin), nameof(V4Sack1), nameof(V4Sack2), nameof(V4Rst),
        nameof(CraftedFourSackBlocks), nameof(CraftedEolThenGarbage), nameof(CraftedAllFlags),
    };

    [Theory]
    [MemberData(nameof(V4Frames))]
    public void EveryTruncatedPrefix_RejectedCleanly(string name)
    {
        var hex = (string)typeof(TcpGoldenFrames).GetField(name)!.GetValue(null)!;
        var whole = Ipv4Segment(hex);
        var f = Frame(hex);
        var src = Ipv4Address.Read(f.AsSpan(26));
        var dst = Ipv4Address.Read(f.AsSpan(30));
        Assert.True(TcpSegment.TryCreate(whole, out var full));
        int headerLength = full.HeaderLength;

        for (int len = 0; len < whole.Length; len++)
        {
            var prefix = whole.AsSpan(0, len).ToArray();
            bool created = TcpSegment.TryCreate(prefix, out var seg, out var err);
            if (len < TcpSegment.MinHeaderLength)
            {
                Assert.False(created);
                Assert.Equal(WireError.Truncated, err);
            }
            else if (len < headerLength)
            {
                Assert.False(created);
                Assert.Equal(WireError.BadHeaderLength, err);
            }
            else
            {
                // The header is whole but the segment is not: the checksum (which covers the length) catches it.
                Assert.True(created);
                Assert.False(TcpRepr.TryParse(seg, src, dst, out _, out err));
                Assert.Equal(WireError.BadChecksum, err);
            }
        }
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0x10)]
    [InlineData(0x40)]
    public void DataOffsetBelowFive_BadHeaderLength(byte offsetByte)
    {
        var bytes = Ipv4Segment(V4Rst);
        bytes[12] = (byte)(offsetByte | (bytes[12] & 0x0F));
        Assert.False(TcpSegment.TryCreate(bytes, out _, out var err));
        Assert.Equal(WireError.BadHeaderLength, err);
    }

    [Fact]
    public void DataOffsetBeyondBuffer_BadHeaderLength()
    {
        var bytes = Ipv4Segment(V4Rst); // 20 bytes, offset 5
        bytes[12] = 0x60;
        Assert.False(TcpSegment.TryCreate(bytes, out _, out var err));
        Assert.Equal(WireError.BadHeaderLength, err);
        Assert.True(TcpSegment.TryCreate(new byte[24] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x60, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1 }, out var ok));
        Assert.Equal(4, ok.Options.Length);
        Assert.Equal(0, ok.Payload.Length);
    }

    [Fact]
    public void Setters_WriteNetworkOrderAndRoundTrip()
    {
        var buf = new byte[32];
        buf[12] = 0x50;
        Assert.True(TcpSegment.TryCreate(buf, out var s));
        s.SourcePort = 0xABCD;
        s.DestinationPort = 0x1234;
        s.SequenceNumber = new SeqNumber(0x01020304);
        s.AcknowledgmentNumber = new SeqNumber(0xF1F2F3F4);
        s.DataOffset = 6;
        s.Flags = TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr | TcpFlags.Ns;
        s.Reserved = 2;
        s.WindowSize = 0xFFFF;
        s.Checksum = 0xBEEF;
        s.UrgentPointer = 0x0102;
        Assert.Equal("ABCD123401020304F1F2F3F465C2FFFFBEEF0102", Convert.ToHexString(buf, 0, 20));
        Assert.Equal(0xABCD, s.SourcePort);
        Assert.Equal(0x1234, s.DestinationPort);
        Assert.Equal(0x01020304u, s.SequenceNumber.Value);
        Assert.Equal(0xF1F2F3F4u, s.AcknowledgmentNumber.Value);
        Assert.Equal(6, s.DataOffset);
        Assert.Equal(24, s.HeaderLength);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr | TcpFlags.Ns, s.Flags);
        Assert.True(s.HasFlags(TcpFlags.Syn | TcpFlags.Ns));
        Assert.False(s.HasFlags(TcpFlags.Syn | TcpFlags.Ack));
        Assert.Equal(2, s.Reserved);
        Assert.Equal(0xFFFF, s.WindowSize);
        Assert.Equal(0xBEEF, s.Checksum);
        Assert.Equal(0x0102, s.UrgentPointer);
        Assert.Equal(4, s.Options.Length);
        Assert.Equal(8, s.Payload.Length);
        Assert.Equal(9, s.SegmentLength);
    }

    [Fact]
    public void FillThenVerifyChecksum_V4AndV6()
    {
        var buf = Ipv4Segment(V4Data);
        Assert.True(TcpSegment.TryCreate(buf, out var s));
        s.Checksum = 0;
        s.FillChecksum(V4A, V4B);
        Assert.Equal(0xc945, s.Checksum);
        Assert.True(s.VerifyChecksum(V4A, V4B));
        Assert.False(s.VerifyChecksum(V4B, V4Scapy));
        s.Payload[0] ^= 1;
        Assert.False(s.VerifyChecksum(V4A, V4B));

        var b6 = Ipv6Segment(V6Data);
        Assert.True(TcpSegment.TryCreate(b6, out var s6));
        s6.Checksum = 0x1111;
        s6.FillChecksum(V6A, V6B);
        Assert.Equal(0x9544, s6.Checksum);
        Assert.True(s6.VerifyChecksum(V6A, V6B));
    }

    [Fact]
    public void Property_RandomBytes_NeverThrow()
    {
        // Bias byte 12 towards plausible data offsets so option parsing is reached often.
        var gen = Gen.Choose(0, 80).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), n))
            .SelectMany(b => Gen.Choose(5, 15).Select(off =>
            {
                if (b.Length > 12 && b.Length % 3 != 0) b[12] = (byte)((off << 4) | (b[12] & 0x0F));
                return b;
            }));
        Prop.ForAll(gen.ToArbitrary(), bytes =>
        {
            var copy = (byte[])bytes.Clone();
            if (!TcpSegment.TryCreate(copy, out var seg, out var err))
                return err is WireError.Truncated or WireError.BadHeaderLength;
            _ = TcpRepr.TryParse(seg, V4A, V4B, out _, out _);
            _ = TcpRepr.TryParse(seg, V6A, V6B, out _, out _);
            // Make the checksum right so the option parser behind it is exercised too.
            seg.FillChecksum(V4A, V4B);
            bool ok = TcpRepr.TryParse(seg, V4A, V4B, out var repr, out err);
            foreach (var o in seg.EnumerateOptions()) _ = o.Data.Length;
            return ok ? err == WireError.None && repr.PayloadLength == seg.Payload.Length : err == WireError.BadOption;
        }).QuickCheckThrowOnFailure();
    }
}
