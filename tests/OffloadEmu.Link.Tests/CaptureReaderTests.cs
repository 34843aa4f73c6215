using System.Buffers.Binary;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using OffloadEmu.Link.Capture;

namespace OffloadEmu.Link.Tests;

public class CaptureReaderTests
{
    /// <summary>Builds pcap/pcapng files by hand in either byte order, for formats our writers never produce.</summary>
    private sealed class Builder(bool bigEndian)
    {
        private readonly MemoryStream _ms = new();

        public Builder U16(int v) { Span<byte> b = stackalloc byte[2]; if (bigEndian) BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)v); else BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); _ms.Write(b); return this; }
        public Builder U32(uint v) { Span<byte> b = stackalloc byte[4]; if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(b, v); else BinaryPrimitives.WriteUInt32LittleEndian(b, v); _ms.Write(b); return this; }
        public Builder U64(ulong v) => U32(bigEndian ? (uint)(v >> 32) : (uint)v).U32(bigEndian ? (uint)v : (uint)(v >> 32));
        public Builder Bytes(ReadOnlySpan<byte> b) { _ms.Write(b); return this; }
        public Builder Pad() { while (_ms.Length % 4 != 0) _ms.WriteByte(0); return this; }
        public Builder Option(int code, ReadOnlySpan<byte> value) => U16(code).U16(value.Length).Bytes(value).Pad();

        /// <summary>A whole pcapng block: type, length, body (built by <paramref name="body"/>), length.</summary>
        public Builder Block(uint type, Action<Builder> body)
        {
            var inner = new Builder(bigEndian);
            body(inner);
            inner.Pad();
            var b = inner.ToArray();
            return U32(type).U32((uint)b.Length + 12).Bytes(b).U32((uint)b.Length + 12);
        }

        public Builder Shb() => Block(0x0A0D0D0A, b => b.U32(0x1A2B3C4D).U16(1).U16(0).U64(ulong.MaxValue));

        public byte[] ToArray() => _ms.ToArray();
    }

    private static readonly byte[] FrameA = TestFrames.IcmpEcho(1, 20);
    private static readonly byte[] FrameB = TestFrames.Udp(2, 33);

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void ReadsClassicPcapInBothByteOrdersAndResolutions(bool bigEndian, bool nanoseconds)
    {
        var b = new Builder(bigEndian).U32(nanoseconds ? 0xA1B23C4D : 0xA1B2C3D4).U16(2).U16(4).U32(0).U32(0).U32(65535).U32(1);
        b.U32(1_700_000_000).U32(nanoseconds ? 123_456_789u : 123_456u).U32((uint)FrameA.Length).U32((uint)FrameA.Length).Bytes(FrameA);
        b.U32(1_700_000_001).U32(5).U32(40).U32((uint)FrameB.Length).Bytes(FrameB.AsSpan(0, 40));
        var frames = new CaptureReader(b.ToArray()).ReadAll().ToList();
        Assert.Equal(2, frames.Count);
        Assert.Equal(1_700_000_000L * 1_000_000_000 + (nanoseconds ? 123_456_789 : 123_456_000), frames[0].TimestampNs);
        Assert.Equal(FrameA, frames[0].Data.ToArray());
        Assert.Equal(1_700_000_001L * 1_000_000_000 + (nanoseconds ? 5 : 5000), frames[1].TimestampNs);
        Assert.Equal(40, frames[1].Data.Length);
        Assert.Equal(FrameB.Length, frames[1].OriginalLength);
        Assert.Equal(1, frames[0].Interface.LinkType);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsPcapNgInBothByteOrdersWithResolutionsSimplePacketsAndUnknownBlocks(bool bigEndian)
    {
        var b = new Builder(bigEndian).Shb();
        // Interface 0: default resolution (microseconds), no name.
        b.Block(1, x => x.U16(1).U16(0).U32(0));
        // Interface 1: named, binary resolution 2^-10 s, offset +100 s.
        b.Block(1, x => x.U16(1).U16(0).U32(65535).Option(2, Encoding.UTF8.GetBytes("eth-big")).Option(9, [0x8A]).Option(14, Be(bigEndian, 100UL)).U32(0));
        // A chimney-call style Custom Block and a Name Resolution Block must be skipped.
        b.Block(0xBAD, x => x.U32(32473).Bytes("chimney"u8));
        b.Block(4, x => x.U32(0));
        b.Block(6, x => x.U32(0).U32(0).U32(1_500_000).U32((uint)FrameA.Length).U32((uint)FrameA.Length).Bytes(FrameA).Pad()
            .Option(2, Be32(bigEndian, 1)).U32(0));
        b.Block(6, x => x.U32(1).U32(0).U32(1024 * 3 + 512).U32((uint)FrameB.Length).U32((uint)FrameB.Length).Bytes(FrameB).Pad()
            .Option(1, "a comment"u8).Option(2, Be32(bigEndian, 2)).U32(0));
        b.Block(3, x => x.U32((uint)FrameB.Length).Bytes(FrameB).Pad());

        var reader = new CaptureReader(b.ToArray());
        var frames = reader.ReadAll().ToList();
        Assert.Equal(3, frames.Count);
        Assert.Equal(1_500_000_000L, frames[0].TimestampNs);
        Assert.Equal(CaptureDirection.Inbound, frames[0].Direction);
        Assert.Null(frames[0].InterfaceName);
        Assert.Equal(FrameA, frames[0].Data.ToArray());
        Assert.Equal(100_000_000_000L + 3_500_000_000L, frames[1].TimestampNs);
        Assert.Equal("eth-big", frames[1].InterfaceName);
        Assert.Equal(CaptureDirection.Outbound, frames[1].Direction);
        Assert.Equal(FrameB, frames[1].Data.ToArray());
        Assert.Equal(0, frames[2].InterfaceIndex);
        Assert.Equal(FrameB, frames[2].Data.ToArray());
    }

    [Fact]
    public void ANewSectionResetsInterfacesAndByteOrder()
    {
        var first = new Builder(false).Shb().Block(1, x => x.U16(1).U16(0).U32(0).Option(2, "one"u8).U32(0))
            .Block(6, x => x.U32(0).U32(0).U32(1).U32((uint)FrameA.Length).U32((uint)FrameA.Length).Bytes(FrameA).Pad()).ToArray();
        var second = new Builder(true).Shb().Block(1, x => x.U16(1).U16(0).U32(0).Option(2, "two"u8).U32(0))
            .Block(6, x => x.U32(0).U32(0).U32(2).U32((uint)FrameB.Length).U32((uint)FrameB.Length).Bytes(FrameB).Pad()).ToArray();
        var frames = new CaptureReader(first.Concat(second).ToArray()).ReadAll().ToList();
        Assert.Equal(["one", "two"], frames.Select(f => f.InterfaceName));
        Assert.Equal(2000, frames[1].TimestampNs);
    }

    [Fact]
    public void NamesTheOffsetOfACorruptBlock()
    {
        var bytes = PcapNgWriterTests.WriteSample(out _);
        var reader = new CaptureReader(bytes);
        Assert.True(reader.TryRead(out _));
        long second = reader.Position;
        bytes[second + 4] ^= 0x40; // the second frame's block length
        var ex = Assert.Throws<CaptureFormatException>(() => reader.ReadAll().ToList());
        Assert.Equal(second, ex.Offset);
        Assert.Contains($"offset {second}", ex.Message);
    }

    [Fact]
    public void RejectsSomethingThatIsNotACapture()
    {
        var ex = Assert.Throws<CaptureFormatException>(() => new CaptureReader("hello, world"u8.ToArray()));
        Assert.Contains("magic", ex.Message);
        Assert.Throws<CaptureFormatException>(() => new CaptureReader(Array.Empty<byte>()));
    }

    public static TheoryData<string> Formats => new() { "pcapng", "pcap" };

    [Theory]
    [MemberData(nameof(Formats))]
    public void EveryTruncationEndsCleanlyOrWithCaptureFormatException(string format)
    {
        var full = format == "pcapng" ? PcapNgWriterTests.WriteSample(out _) : WritePcap();
        int total = new CaptureReader(full).ReadAll().Count();
        int clean = 0;
        for (int length = 0; length < full.Length; length++)
        {
            var cut = full.AsMemory(0, length);
            try
            {
                int n = new CaptureReader(cut).ReadAll().Count();
                Assert.True(n < total);
                clean++;
            }
            catch (CaptureFormatException ex)
            {
                Assert.InRange(ex.Offset, 0, length);
            }
        }
        // Cuts exactly at record boundaries read as shorter files.
        Assert.True(clean >= total, $"only {clean} clean truncations");
    }

    [Fact]
    public void RandomBytesOnlyEverThrowCaptureFormatException()
    {
        var prefixes = new[] { Array.Empty<byte>(), new byte[] { 0x0A, 0x0D, 0x0D, 0x0A }, new byte[] { 0x4d, 0x3c, 0xb2, 0xa1 }, new byte[] { 0xa1, 0xb2, 0xc3, 0xd4 } };
        Prop.ForAll<byte[], int>((tail, which) =>
        {
            var prefix = prefixes[(which & int.MaxValue) % prefixes.Length];
            ReadsOrThrowsFormatError(prefix.Concat(tail).ToArray());
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(2000));
    }

    [Fact]
    public void MutatedValidFilesOnlyEverThrowCaptureFormatException()
    {
        var pcapng = PcapNgWriterTests.WriteSample(out _);
        var pcap = WritePcap();
        Prop.ForAll<bool, (int pos, byte value)[]>((usePcap, edits) =>
        {
            var bytes = (usePcap ? pcap : pcapng).ToArray();
            foreach (var (pos, value) in edits) bytes[(pos & int.MaxValue) % bytes.Length] = value;
            ReadsOrThrowsFormatError(bytes);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(3000));
    }

    private static void ReadsOrThrowsFormatError(byte[] bytes)
    {
        try
        {
            foreach (var f in new CaptureReader(bytes).ReadAll()) _ = f.Data.Span.Length;
        }
        catch (CaptureFormatException)
        {
        }
    }

    private static byte[] WritePcap()
    {
        var ms = new MemoryStream();
        using (var w = new PcapWriter(ms, leaveOpen: true))
        {
            for (int i = 0; i < 5; i++) w.WriteFrame(0, 1_000_000_000L * i + 7, TestFrames.IcmpEcho(i, 3 * i), CaptureDirection.Unknown);
        }
        return ms.ToArray();
    }

    private static byte[] Be(bool bigEndian, ulong v)
    {
        var b = new byte[8];
        if (bigEndian) BinaryPrimitives.WriteUInt64BigEndian(b, v); else BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return b;
    }

    private static byte[] Be32(bool bigEndian, uint v)
    {
        var b = new byte[4];
        if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(b, v); else BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return b;
    }
}
