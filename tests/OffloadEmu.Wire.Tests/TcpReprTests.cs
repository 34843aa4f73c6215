using FsCheck;
using FsCheck.Fluent;
using static OffloadEmu.Wire.Tests.TcpGoldenFrames;

namespace OffloadEmu.Wire.Tests;

public class TcpReprTests
{
    private static readonly TcpRepr DataRepr = new()
    {
        SourcePort = 40001,
        DestinationPort = 5001,
        SequenceNumber = new SeqNumber(0xFFFFFF00),
        AckNumber = new SeqNumber(12345),
        Flags = TcpFlags.Psh,
        Window = 502,
        Options = new TcpOptions { Timestamps = new TcpTimestamps(10, 20) }
            .WithSackBlocks([new SackBlock(new SeqNumber(1), new SeqNumber(100))]),
        PayloadLength = 5,
    };

    [Fact]
    public void AckFlagFollowsAckNumber()
    {
        Assert.Equal(TcpFlags.Psh | TcpFlags.Ack, DataRepr.Flags);
        var noAck = DataRepr with { AckNumber = null, Flags = TcpFlags.Ack | TcpFlags.Rst };
        Assert.Equal(TcpFlags.Rst, noAck.Flags);
        var buf = new byte[noAck.SegmentBufferLength];
        noAck.Emit(buf, V4A, V4B, "hello"u8);
        Assert.True(TcpSegment.TryCreate(buf, out var seg));
        Assert.Equal(TcpFlags.Rst, seg.Flags);
        Assert.Equal(0u, seg.AcknowledgmentNumber.Value);
    }

    [Fact]
    public void Emit_V4_ParsesBackWithChecksum()
    {
        var buf = new byte[DataRepr.SegmentBufferLength];
        DataRepr.Emit(buf, V4A, V4B, "hello"u8);
        Assert.Equal(20 + 12 + 12, DataRepr.BufferLength);
        Assert.True(TcpSegment.TryCreate(buf, out var seg));
        Assert.True(seg.VerifyChecksum(V4A, V4B));
        Assert.Equal(0, seg.Reserved);
        Assert.Equal("[nop,nop,TS val 10 ecr 20,nop,nop,sack 1 {1:100}]", TcpOptionsTests.Format(seg.Options));
        Assert.True(TcpRepr.TryParse(seg, V4A, V4B, out var back, out var err), err.ToString());
        Assert.Equal(DataRepr, back);
        Assert.Equal("hello"u8.ToArray(), seg.Payload.ToArray());
        Assert.Equal(5, back.SegmentLength);
    }

    [Fact]
    public void Emit_PayloadInPlace_ZeroCopy()
    {
        var buf = new byte[DataRepr.SegmentBufferLength + 10];
        "world"u8.CopyTo(buf.AsSpan(DataRepr.BufferLength));
        DataRepr.Emit(buf, V6A, V6B);
        Assert.True(TcpSegment.TryCreate(buf.AsSpan(0, DataRepr.SegmentBufferLength), out var seg));
        Assert.True(TcpRepr.TryParse(seg, V6A, V6B, out var back, out _));
        Assert.Equal(DataRepr, back);
        Assert.Equal("world"u8.ToArray(), seg.Payload.ToArray());
    }

    [Fact]
    public void Emit_DropsSynOnlyOptionsFromNonSyn()
    {
        // MUST-65: MSS only in SYNs; window scale and SACK-permitted likewise (RFC 7323 §2.2, RFC 2018 §2).
        var r = DataRepr with { Options = new TcpOptions { MaxSegmentSize = 1460, WindowScale = 7, SackPermitted = true, Timestamps = new TcpTimestamps(1, 2) } };
        Assert.Equal(32, r.BufferLength);
        var buf = new byte[r.SegmentBufferLength];
        r.Emit(buf, V4A, V4B, "hello"u8);
        TcpSegment.TryCreate(buf, out var seg);
        Assert.Equal("[nop,nop,TS val 1 ecr 2]", TcpOptionsTests.Format(seg.Options));

        var syn = r with { Flags = TcpFlags.Syn, AckNumber = null, PayloadLength = 0 };
        Assert.Equal(40, syn.BufferLength);
        buf = new byte[syn.SegmentBufferLength];
        syn.Emit(buf, V4A, V4B, default);
        TcpSegment.TryCreate(buf, out seg);
        Assert.Equal("[mss 1460,sackOK,TS val 1 ecr 2,nop,wscale 7]", TcpOptionsTests.Format(seg.Options));
        Assert.True(TcpRepr.TryParse(seg, V4A, V4B, out var back, out _));
        Assert.Equal(syn, back);
        Assert.Equal(1, back.SegmentLength);
    }

    [Fact]
    public void Emit_RejectsShortBufferAndWrongPayload()
    {
        Assert.Throws<ArgumentException>(() => DataRepr.Emit(new byte[DataRepr.SegmentBufferLength - 1], V4A, V4B, "hello"u8));
        Assert.Throws<ArgumentException>(() => DataRepr.Emit(new byte[DataRepr.SegmentBufferLength - 1], V4A, V4B));
        Assert.Throws<ArgumentException>(() => DataRepr.Emit(new byte[100], V4A, V4B, "hell"u8));
    }

    [Fact]
    public void TryParseUnverified_SkipsChecksumOnly()
    {
        var bytes = Ipv4Segment(CraftedBadChecksum);
        TcpSegment.TryCreate(bytes, out var seg);
        Assert.True(TcpRepr.TryParseUnverified(seg, out var r, out _));
        Assert.Equal(7, r.PayloadLength);
        var bad = Ipv4Segment(CraftedOptionLengthZero);
        TcpSegment.TryCreate(bad, out seg);
        Assert.False(TcpRepr.TryParseUnverified(seg, out _, out var err));
        Assert.Equal(WireError.BadOption, err);
    }

    [Fact]
    public void ValueEquality()
    {
        var a = DataRepr;
        var b = DataRepr with { };
        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, a with { Window = 503 });
        Assert.NotEqual(a, a with { AckNumber = null });
        Assert.NotEqual(a, a with { Options = default });
        Assert.NotEqual(a, a with { UrgentPointer = 1 });
    }

    private static readonly Gen<TcpRepr> ReprGen =
        from sport in Gen.Choose(0, 0xFFFF)
        from dport in Gen.Choose(0, 0xFFFF)
        from seq in TcpOptionsTests.UInt32Gen
        from ack in TcpOptionsTests.Maybe(TcpOptionsTests.UInt32Gen)
        from flags in Gen.Choose(0, 0x1FF)
        from win in Gen.Choose(0, 0xFFFF)
        from urg in Gen.Choose(0, 0xFFFF)
        from opts in TcpOptionsTests.OptionsGen
        from len in Gen.Frequency((3, Gen.Choose(0, 64)), (1, Gen.Choose(65, 1500)))
        select new TcpRepr
        {
            SourcePort = (ushort)sport,
            DestinationPort = (ushort)dport,
            SequenceNumber = new SeqNumber(seq),
            AckNumber = ack.HasValue ? new SeqNumber(ack.Value) : null,
            Flags = (TcpFlags)flags,
            Window = (ushort)win,
            UrgentPointer = (ushort)urg,
            Options = opts,
            PayloadLength = len,
        };

    [Fact]
    public void Property_EmitThenParse_RoundTrips_V4AndV6()
    {
        Prop.ForAll(ReprGen.ToArbitrary(), Gen.Choose(0, 255).ToArbitrary(), (r, fill) =>
        {
            var payload = new byte[r.PayloadLength];
            Array.Fill(payload, (byte)fill);
            var expected = r with { Options = TcpOptionsTests.Trimmed((r.Flags & TcpFlags.Syn) != 0 ? r.Options : r.Options.WithoutSynOnlyOptions()) };

            var b4 = new byte[r.SegmentBufferLength];
            r.Emit(b4, V4A, V4B, payload);
            bool ok4 = TcpSegment.TryCreate(b4, out var s4) && TcpRepr.TryParse(s4, V4A, V4B, out var r4, out _) && r4 == expected
                       && s4.Payload.SequenceEqual(payload) && s4.HeaderLength == r.BufferLength && s4.HeaderLength % 4 == 0;

            var b6 = new byte[r.SegmentBufferLength];
            r.Emit(b6, V6A, V6B, payload);
            bool ok6 = TcpSegment.TryCreate(b6, out var s6) && TcpRepr.TryParse(s6, V6A, V6B, out var r6, out _) && r6 == expected;
            return ok4 && ok6;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void ParseAndEmit_10000Segments_AllocateNothing()
    {
        var src = V4B;
        var dst = V4Scapy;
        var input = Ipv4Segment(V4Sack2);
        var output = new byte[1600];
        var payload = new byte[100];

        int Run(int n)
        {
            int sum = 0;
            for (int i = 0; i < n; i++)
            {
                if (!TcpSegment.TryCreate(input, out var seg, out _)) return -1;
                if (!TcpRepr.TryParse(seg, src, dst, out var repr, out _)) return -1;
                sum += repr.Options.SackBlockCount;
                var reply = repr with { SequenceNumber = repr.SequenceNumber + i, PayloadLength = payload.Length };
                reply.Emit(output, src, dst, payload);
                foreach (var o in seg.EnumerateOptions()) sum += o.Length;
                if (!TcpSegment.TryCreate(output.AsSpan(0, reply.SegmentBufferLength), out var back) || !back.VerifyChecksum(src, dst)) return -1;
            }
            return sum;
        }

        Assert.True(Run(100) > 0); // warm-up (JIT, tiering)
        long before = GC.GetAllocatedBytesForCurrentThread();
        int result = Run(10_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(result > 0);
        Assert.Equal(0, allocated);
    }
}
