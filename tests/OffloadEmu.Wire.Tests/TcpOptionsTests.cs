using System.Text;
using FsCheck;
using FsCheck.Fluent;
using static OffloadEmu.Wire.Tests.TcpGoldenFrames;

namespace OffloadEmu.Wire.Tests;

public class TcpOptionsTests
{
    private static TcpOptions Parse(params byte[] bytes)
    {
        Assert.True(TcpOptions.TryParse(bytes, out var o, out var err), $"parse failed: {err}");
        Assert.Equal(WireError.None, err);
        return o;
    }

    private static void AssertBad(params byte[] bytes)
    {
        Assert.False(TcpOptions.TryParse(bytes, out var o, out var err));
        Assert.Equal(WireError.BadOption, err);
        Assert.Equal(default, o);
    }

    [Fact]
    public void Nop_nop_timestamps_the_direct_path_gives_what_the_general_loop_gives()
    {
        // NOP NOP TS(10) is read directly; the same option in another order (TS NOP NOP) goes through the loop.
        var direct = Parse(1, 1, 8, 10, 0x80, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFE);
        var general = Parse(8, 10, 0x80, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFE, 1, 1);
        Assert.Equal(general, direct);
        Assert.Equal(new TcpTimestamps(0x8000_0001, 0xFFFF_FFFE), direct.Timestamps);
        Assert.Equal(general.NopCount, direct.NopCount);
        Assert.Equal(2, direct.NopCount);
        Assert.Equal(general.UnknownCount, direct.UnknownCount);
        Assert.Equal(general.EndOfListSeen, direct.EndOfListSeen);
        Assert.Equal(general.EmittedLength, direct.EmittedLength);
        Assert.Null(direct.MaxSegmentSize);
        Assert.Null(direct.WindowScale);
        Assert.False(direct.SackPermitted);
        Assert.Equal(0, direct.SackBlockCount);
        // A wrong TS length is still refused (it is not the fast path's shape, and the loop rejects it).
        AssertBad(1, 1, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    [Fact]
    public void Empty_ParsesToNothing()
    {
        var o = Parse();
        Assert.Equal(default, o);
        Assert.Equal(0, o.EmittedLength);
        Assert.False(o.EndOfListSeen);
    }

    [Fact]
    public void EveryKnownKind_Parsed()
    {
        var o = Parse(
            2, 4, 0x05, 0xb4,
            3, 3, 7,
            4, 2,
            8, 10, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff,
            5, 10, 0, 0, 0, 10, 0, 0, 0, 20,
            1, 0);
        Assert.Equal((ushort)1460, o.MaxSegmentSize);
        Assert.Equal((byte)7, o.WindowScale);
        Assert.True(o.SackPermitted);
        Assert.Equal(new TcpTimestamps(1, 0xffffffff), o.Timestamps);
        Assert.Equal(1, o.SackBlockCount);
        Assert.Equal(new SackBlock(new SeqNumber(10), new SeqNumber(20)), o.GetSackBlock(0));
        Assert.Equal(1, o.NopCount);
        Assert.True(o.EndOfListSeen);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void OptionsAtAnyByteOffset_Parsed(int nops)
    {
        // MUST-64: options need not start on a word boundary.
        var bytes = new List<byte>();
        for (int i = 0; i < nops; i++) bytes.Add(1);
        bytes.AddRange([8, 10, 1, 2, 3, 4, 5, 6, 7, 8]);
        bytes.AddRange([2, 4, 0x01, 0x00]);
        bytes.AddRange([3, 3, 14]);
        var o = Parse([.. bytes]);
        Assert.Equal(new TcpTimestamps(0x01020304, 0x05060708), o.Timestamps);
        Assert.Equal((ushort)256, o.MaxSegmentSize);
        Assert.Equal((byte)14, o.WindowScale);
        Assert.Equal(nops, o.NopCount);
    }

    [Fact]
    public void UnknownKinds_SkippedByLength()
    {
        var o = Parse(99, 2, 200, 5, 0xaa, 0xbb, 0xcc, 2, 4, 0x02, 0x18, 254, 4, 0xf9, 0x89);
        Assert.Equal((ushort)536, o.MaxSegmentSize);
        Assert.Equal(3, o.UnknownCount);
    }

    [Fact]
    public void UnknownKindThatLooksLikeEol_InsideData_NotTreatedAsEol()
    {
        // The 0 inside the unknown option's data must be skipped with it.
        var o = Parse(77, 4, 0, 0, 3, 3, 5);
        Assert.Equal((byte)5, o.WindowScale);
        Assert.False(o.EndOfListSeen);
    }

    [Fact]
    public void EolThenGarbage_GarbageIgnored()
    {
        // MUST-69: after EOL the rest is padding, even if it would be an illegal option.
        var o = Parse(3, 3, 9, 0, 2, 0, 0xff, 5, 1);
        Assert.Equal((byte)9, o.WindowScale);
        Assert.True(o.EndOfListSeen);
        Assert.Null(o.MaxSegmentSize);
    }

    [Theory]
    [InlineData(new byte[] { 30, 0 })]                    // length 0
    [InlineData(new byte[] { 1, 30, 1, 0 })]              // length 1
    [InlineData(new byte[] { 30 })]                       // no length byte
    [InlineData(new byte[] { 1, 1, 1, 30 })]              // no length byte at the end
    [InlineData(new byte[] { 30, 5, 0, 0 })]              // overruns
    [InlineData(new byte[] { 8, 10, 0, 0, 0, 1 })]        // timestamps overrun
    [InlineData(new byte[] { 2, 3, 5, 1 })]               // MSS length 3
    [InlineData(new byte[] { 2, 5, 5, 1, 0 })]            // MSS length 5
    [InlineData(new byte[] { 3, 4, 5, 0 })]               // window scale length 4
    [InlineData(new byte[] { 3, 2 })]                     // window scale length 2
    [InlineData(new byte[] { 4, 3, 0 })]                  // SACK-permitted length 3
    [InlineData(new byte[] { 8, 8, 0, 0, 0, 0, 0, 0 })]   // timestamps length 8
    [InlineData(new byte[] { 5, 2 })]                     // SACK with no block
    [InlineData(new byte[] { 5, 6, 0, 0, 0, 0 })]         // SACK not 2 + 8n
    [InlineData(new byte[] { 5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData(new byte[] { 2, 4, 5, 0xb4, 99, 0, 1, 1 })] // good option, then a bad one
    public void IllegalLengths_BadOptionWithoutException(byte[] bytes) => AssertBad(bytes);

    [Fact]
    public void FiveSackBlocks_FirstFourKept()
    {
        // 42 bytes cannot come from a real header, but the parser accepts any span and documents the choice.
        var bytes = new byte[42];
        bytes[0] = 5;
        bytes[1] = 42;
        for (int i = 0; i < 10; i++) System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(2 + 4 * i), (uint)(i + 1));
        var o = Parse(bytes);
        Assert.Equal(4, o.SackBlockCount);
        Assert.Equal(new SackBlock(new SeqNumber(7), new SeqNumber(8)), o.GetSackBlock(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => o.GetSackBlock(4));
    }

    [Fact]
    public void RepeatedOption_LastWins()
    {
        var o = Parse(2, 4, 0, 100, 2, 4, 0, 200);
        Assert.Equal((ushort)200, o.MaxSegmentSize);
    }

    [Fact]
    public void Emit_LinuxSynLayout()
    {
        var o = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true, Timestamps = new TcpTimestamps(380998298, 0), WindowScale = 10 };
        Assert.Equal(20, o.EmittedLength);
        var buf = new byte[40];
        Assert.Equal(20, o.Emit(buf));
        // Bytes 20..40 of the captured Linux SYN.
        Assert.Equal(Ipv4Segment(V4Syn)[20..40], buf[..20]);
        Assert.Equal("[mss 1460,sackOK,TS val 380998298 ecr 0,nop,wscale 10]", Format(buf[..20]));
    }

    [Fact]
    public void Emit_SackPermittedWithoutTimestamps_PaddedWithNops()
    {
        var o = new TcpOptions { MaxSegmentSize = 1400, SackPermitted = true, WindowScale = 3 };
        var buf = new byte[o.EmittedLength];
        o.Emit(buf);
        Assert.Equal("[mss 1400,nop,nop,sackOK,nop,wscale 3]", Format(buf));
    }

    [Fact]
    public void Emit_DataSegmentLayouts()
    {
        var ts = new TcpOptions { Timestamps = new TcpTimestamps(7, 8) };
        var buf = new byte[ts.EmittedLength];
        ts.Emit(buf);
        Assert.Equal("[nop,nop,TS val 7 ecr 8]", Format(buf));

        var sack = new TcpOptions().WithSackBlocks([new SackBlock(new SeqNumber(1), new SeqNumber(2))]);
        buf = new byte[sack.EmittedLength];
        sack.Emit(buf);
        Assert.Equal("[nop,nop,sack 1 {1:2}]", Format(buf));

        var both = new TcpOptions { Timestamps = new TcpTimestamps(4165936610, 101) }
            .WithSackBlocks([new SackBlock(new SeqNumber(1301), new SeqNumber(1401)), new SackBlock(new SeqNumber(1101), new SeqNumber(1201))]);
        buf = new byte[both.EmittedLength];
        both.Emit(buf);
        Assert.Equal(Ipv4Segment(V4Sack2)[20..52], buf);
    }

    [Fact]
    public void Emit_SackBlocksTrimmedToFit()
    {
        SackBlock[] four = [B(1, 2), B(3, 4), B(5, 6), B(7, 8)];
        var noTs = new TcpOptions().WithSackBlocks(four);
        Assert.Equal(4, noTs.EmittedSackBlockCount);
        Assert.Equal(36, noTs.EmittedLength);
        var withTs = new TcpOptions { Timestamps = new TcpTimestamps(1, 1) }.WithSackBlocks(four);
        Assert.Equal(3, withTs.EmittedSackBlockCount); // RFC 2018 §3: three with timestamps
        Assert.Equal(40, withTs.EmittedLength);
        var everything = new TcpOptions { MaxSegmentSize = 1, WindowScale = 1, SackPermitted = true, Timestamps = new TcpTimestamps(1, 1) }.WithSackBlocks(four);
        Assert.Equal(2, everything.EmittedSackBlockCount);
        Assert.Equal(40, everything.EmittedLength);
    }

    [Fact]
    public void Emit_DestinationTooSmall()
    {
        var o = new TcpOptions { Timestamps = new TcpTimestamps(1, 2) };
        Assert.False(o.TryEmit(new byte[11], out int written));
        Assert.Equal(0, written);
        Assert.Throws<ArgumentException>(() => o.Emit(new byte[11]));
    }

    [Fact]
    public void Equality_IgnoresLayoutDiagnostics()
    {
        var a = Parse(1, 1, 1, 2, 4, 0, 100, 0);
        var b = Parse(2, 4, 0, 100);
        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, Parse(2, 4, 0, 101));
        Assert.NotEqual(Parse(5, 10, 0, 0, 0, 1, 0, 0, 0, 2), Parse(5, 10, 0, 0, 0, 1, 0, 0, 0, 3));
    }

    // --- raw enumerator: wire order, as tcpdump prints it ---

    [Fact]
    public void Enumerator_WireOrderOfLinuxSyn()
    {
        var opts = Ipv4Segment(V4Syn)[20..40];
        var kinds = new List<byte>();
        foreach (var o in TcpOptions.Enumerate(opts)) kinds.Add(o.RawKind);
        Assert.Equal(new byte[] { 2, 4, 8, 1, 3 }, kinds);
    }

    [Fact]
    public void Enumerator_UnknownOptionData()
    {
        var seg = Ipv4Segment(CraftedUnknownOptions);
        Assert.True(TcpSegment.TryCreate(seg, out var s));
        var e = s.EnumerateOptions();
        var seen = new List<(byte kind, int offset, int length, string data)>();
        while (e.MoveNext()) seen.Add((e.Current.RawKind, e.Current.Offset, e.Current.Length, Convert.ToHexString(e.Current.Data)));
        Assert.Equal(WireError.None, e.Error);
        Assert.Equal(
            new (byte, int, int, string)[] { (1, 0, 1, ""), (30, 1, 4, "ABCD"), (2, 5, 4, "05B4"), (253, 9, 6, "DEADBEEF"), (1, 15, 1, ""), (1, 16, 1, ""), (0, 17, 1, "") },
            seen);
    }

    [Fact]
    public void Enumerator_ReportsWhereFramingBreaks()
    {
        var e = TcpOptions.Enumerate(new byte[] { 1, 1, 1, 5, 1, 0, 0, 0 });
        int n = 0;
        while (e.MoveNext()) n++;
        Assert.Equal(3, n);
        Assert.Equal(WireError.BadOption, e.Error);
        Assert.Equal(3, e.ErrorOffset);
    }

    [Theory]
    [InlineData(nameof(V4Syn), "[mss 1460,sackOK,TS val 380998298 ecr 0,nop,wscale 10]")]
    [InlineData(nameof(V4Sack1), "[nop,nop,TS val 4165936579 ecr 101,nop,nop,sack 1 {1101:1201}]")]
    [InlineData(nameof(V4Sack2), "[nop,nop,TS val 4165936610 ecr 101,nop,nop,sack 2 {1301:1401}{1101:1201}]")]
    [InlineData(nameof(CraftedEolThenGarbage), "[nop,nop,TS val 1 ecr 2,eol]")]
    [InlineData(nameof(CraftedOptionLengthZero), "[nop,[bad opt]]")]
    [InlineData(nameof(CraftedOptionLengthOne), "[nop,nop,nop,[bad opt]]")]
    [InlineData(nameof(CraftedOptionOverrun), "[nop,nop,[bad opt]]")]
    [InlineData(nameof(CraftedFourSackBlocks), "[wscale 14,sack 4 {4294967280:16}{100:200}{300:400}{500:600},eol]")]
    [InlineData(nameof(CraftedBadChecksum), "[nop,nop,TS val 5 ecr 6]")]
    [InlineData(nameof(CraftedSackPermWsUnknownEmpty), "[sackOK,wscale 7,unknown-99,nop,nop,nop,eol]")]
    public void Enumerator_SufficesForTcpdumpFormatting(string frame, string tcpdumpSays)
    {
        // The strings are tcpdump 4.99.3's own output (tcpdump -S -nr) for these captured frames.
        var hex = (string)typeof(TcpGoldenFrames).GetField(frame)!.GetValue(null)!;
        var seg = Ipv4Segment(hex);
        Assert.True(TcpSegment.TryCreate(seg, out var s));
        Assert.Equal(tcpdumpSays, Format(s.Options));
    }

    [Fact]
    public void Enumerator_UnknownWithData_AsTcpdump()
        => Assert.Equal("[unknown-253 0xdeadbeef,nop]", Format(new byte[] { 253, 6, 0xde, 0xad, 0xbe, 0xef, 1 }));

    /// <summary>A tcpdump-style rendering built only on the public enumerator, proving it carries what a formatter needs.</summary>
    internal static string Format(ReadOnlySpan<byte> options)
    {
        var sb = new StringBuilder("[");
        var e = TcpOptions.Enumerate(options);
        bool first = true;
        while (e.MoveNext())
        {
            if (!first) sb.Append(',');
            first = false;
            var o = e.Current;
            switch (o.Kind)
            {
                case TcpOptionKind.EndOfList: sb.Append("eol"); break;
                case TcpOptionKind.Nop: sb.Append("nop"); break;
                case TcpOptionKind.SackPermitted: sb.Append("sackOK"); break;
                case TcpOptionKind.MaxSegmentSize when o.TryGetMaxSegmentSize(out var mss): sb.Append("mss ").Append(mss); break;
                case TcpOptionKind.WindowScale when o.TryGetWindowScale(out var ws): sb.Append("wscale ").Append(ws); break;
                case TcpOptionKind.Timestamps when o.TryGetTimestamps(out var ts): sb.Append(ts.ToString()); break;
                case TcpOptionKind.Sack when o.TryGetSackBlockCount(out int n):
                    sb.Append("sack ").Append(n).Append(' ');
                    for (int i = 0; i < n; i++) sb.Append(o.GetSackBlock(i).ToString());
                    break;
                default:
                    sb.Append("unknown-").Append(o.RawKind);
                    if (o.Data.Length > 0) sb.Append(" 0x").Append(Convert.ToHexString(o.Data).ToLowerInvariant());
                    break;
            }
        }
        if (e.Error != WireError.None) sb.Append(first ? "" : ",").Append("[bad opt]");
        return sb.Append(']').ToString();
    }

    private static SackBlock B(uint s, uint e) => new(new SeqNumber(s), new SeqNumber(e));

    // --- properties ---

    internal static readonly Gen<uint> UInt32Gen =
        Gen.Zip(Gen.Choose(0, 0xFFFF), Gen.Choose(0, 0xFFFF), (hi, lo) => ((uint)hi << 16) | (uint)lo);

    internal static Gen<T?> Maybe<T>(Gen<T> g) where T : struct
        => Gen.Frequency((1, Gen.Constant<T?>(null)), (2, g.Select(v => (T?)v)));

    internal static readonly Gen<TcpOptions> OptionsGen =
        from mss in Maybe(Gen.Choose(0, 0xFFFF).Select(v => (ushort)v))
        from ws in Maybe(Gen.Choose(0, 255).Select(v => (byte)v))
        from sackOk in Gen.Elements(true, false)
        from ts in Maybe(Gen.Zip(UInt32Gen, UInt32Gen, (a, b) => new TcpTimestamps(a, b)))
        from n in Gen.Choose(0, 4)
        from blocks in Gen.ArrayOf(Gen.Zip(UInt32Gen, UInt32Gen, (a, b) => new SackBlock(new SeqNumber(a), new SeqNumber(b))), n)
        select new TcpOptions { MaxSegmentSize = mss, WindowScale = ws, SackPermitted = sackOk, Timestamps = ts }.WithSackBlocks(blocks);

    internal static TcpOptions Trimmed(TcpOptions o)
    {
        Span<SackBlock> blocks = stackalloc SackBlock[4];
        int n = o.EmittedSackBlockCount;
        for (int i = 0; i < n; i++) blocks[i] = o.GetSackBlock(i);
        return o.WithSackBlocks(blocks[..n]);
    }

    [Fact]
    public void Property_EmitThenParse_RoundTrips()
    {
        Prop.ForAll(OptionsGen.ToArbitrary(), Gen.Choose(0, 3).ToArbitrary(), (o, leadingNops) =>
        {
            var buf = new byte[TcpOptions.MaxLength + 3];
            for (int i = 0; i < leadingNops; i++) buf[i] = 1;
            int written = o.Emit(buf.AsSpan(leadingNops));
            bool ok = TcpOptions.TryParse(buf.AsSpan(0, leadingNops + written), out var parsed, out var err);
            return written == o.EmittedLength && written % 4 == 0 && written <= TcpOptions.MaxLength
                   && ok && err == WireError.None && parsed == Trimmed(o);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Property_RandomBytes_NeverThrow()
    {
        var bytesGen = Gen.Choose(0, 44).SelectMany(n => Gen.ArrayOf(Gen.Frequency(
            (3, Gen.Choose(0, 255)), (2, Gen.Choose(0, 10))).Select(b => (byte)b), n));
        Prop.ForAll(bytesGen.ToArbitrary(), bytes =>
        {
            bool ok = TcpOptions.TryParse(bytes, out var parsed, out var err);
            var e = TcpOptions.Enumerate(bytes);
            int count = 0;
            while (e.MoveNext())
            {
                _ = e.Current.Data.Length;
                count++;
            }
            _ = Format(bytes);
            // A parse succeeds exactly when the framing is sound and the known kinds have their lengths.
            return ok ? err == WireError.None && e.Error == WireError.None : err == WireError.BadOption && parsed == default;
        }).QuickCheckThrowOnFailure();
    }
}
