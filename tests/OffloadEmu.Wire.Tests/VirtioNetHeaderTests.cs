namespace OffloadEmu.Wire.Tests;

public class VirtioNetHeaderTests
{
    [Fact]
    public void Round_trips_every_field_little_endian()
    {
        var header = new VirtioNetHeader
        {
            Flags = VirtioNetHeaderFlags.NeedsChecksum,
            GsoType = VirtioNetGsoType.TcpV4 | VirtioNetGsoType.Ecn,
            HeaderLength = 66,
            GsoSize = 1448,
            ChecksumStart = 34,
            ChecksumOffset = 16,
        };
        var bytes = new byte[VirtioNetHeader.Length];
        header.Write(bytes);
        // struct virtio_net_hdr, little-endian: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset.
        Assert.Equal(new byte[] { 0x01, 0x81, 66, 0, 0xa8, 0x05, 34, 0, 16, 0 }, bytes);
        Assert.True(VirtioNetHeader.TryRead(bytes, out var read));
        Assert.Equal(header, read);
        Assert.True(read.IsGso);
        Assert.True(read.ChecksumPartial);
        Assert.False(read.DataValid);
        Assert.Equal(VirtioNetGsoType.TcpV4, read.GsoProtocol);
        Assert.Equal(WireError.None, read.Validate(66 + 1448 * 3));
        Assert.Equal("gso tcpv4+ecn size 1448 hdr 66, csum partial 34+16", read.ToString());
    }

    [Fact]
    public void All_zero_is_no_offload()
    {
        Assert.True(VirtioNetHeader.TryRead(new byte[VirtioNetHeader.Length], out var h));
        Assert.Equal(VirtioNetHeader.None, h);
        Assert.False(h.IsGso);
        Assert.False(h.ChecksumPartial);
        Assert.Equal(WireError.None, h.Validate(60));
    }

    [Fact]
    public void Short_input_is_refused_and_short_output_throws()
    {
        Assert.False(VirtioNetHeader.TryRead(new byte[VirtioNetHeader.Length - 1], out _));
        Assert.Throws<ArgumentException>(() => VirtioNetHeader.None.Write(new byte[9]));
    }

    [Theory]
    [InlineData(0x04, 0x00, 0, 0, 0, 0, 100, WireError.Unsupported)]      // unknown flag bit (RSC_INFO)
    [InlineData(0x00, 0x03, 0, 1400, 0, 0, 100, WireError.Unsupported)]   // UDP (UFO)
    [InlineData(0x00, 0x05, 0, 1400, 0, 0, 100, WireError.Unsupported)]   // UDP L4 (USO)
    [InlineData(0x00, 0x80, 0, 0, 0, 0, 100, WireError.Unsupported)]      // ECN without a TCP type
    [InlineData(0x01, 0x01, 54, 0, 34, 16, 100, WireError.BadLength)]     // TCP GSO with gso_size 0
    [InlineData(0x00, 0x00, 101, 0, 0, 0, 100, WireError.BadHeaderLength)] // hdr_len beyond the frame
    [InlineData(0x01, 0x00, 0, 0, 34, 16, 51, WireError.BadHeaderLength)]  // checksum field beyond the frame
    [InlineData(0x01, 0x00, 0, 0, 0xFFFF, 0xFFFF, 65000, WireError.BadHeaderLength)] // no overflow on the sum
    [InlineData(0x01, 0x04, 74, 1428, 54, 16, 74 + 2 * 1428, WireError.None)]
    [InlineData(0x02, 0x00, 0, 0, 0, 0, 60, WireError.None)]
    public void Validate_refuses_headers_that_do_not_fit(int flags, int gso, int hdr, int size, int start, int offset, int frame, WireError expected)
    {
        var h = new VirtioNetHeader
        {
            Flags = (VirtioNetHeaderFlags)flags,
            GsoType = (VirtioNetGsoType)gso,
            HeaderLength = (ushort)hdr,
            GsoSize = (ushort)size,
            ChecksumStart = (ushort)start,
            ChecksumOffset = (ushort)offset,
        };
        Assert.Equal(expected, h.Validate(frame));
    }

    [Fact]
    public void Partial_checksum_completed_in_software_equals_the_full_checksum()
    {
        var src = Ipv4Address.Parse("198.18.0.2");
        var dst = Ipv4Address.Parse("198.18.0.1");
        var repr = new TcpRepr
        {
            SourcePort = 40000, DestinationPort = 9, SequenceNumber = new SeqNumber(123456), AckNumber = new SeqNumber(99),
            Flags = TcpFlags.Ack | TcpFlags.Psh, Window = 500, PayloadLength = 3001,
        };
        var full = new byte[repr.BufferLength + 3001];
        for (int i = repr.BufferLength; i < full.Length; i++) full[i] = (byte)(i * 7);
        var partial = (byte[])full.Clone();
        repr.Emit(full, src, dst);
        repr.EmitPartialChecksum(partial, src, dst);
        Assert.True(TcpSegment.TryCreate(partial, out var seg, out _));
        Assert.False(seg.VerifyChecksum(src, dst));
        Assert.Equal(InternetChecksum.Fold(InternetChecksum.PseudoHeader(src, dst, IpProtocol.Tcp, partial.Length)), seg.Checksum);
        seg.CompletePartialChecksum();
        Assert.Equal(full, partial);
        Assert.True(seg.VerifyChecksum(src, dst));
    }

    [Fact]
    public void Read_and_write_allocate_nothing()
    {
        var bytes = new byte[VirtioNetHeader.Length];
        var h = new VirtioNetHeader { Flags = VirtioNetHeaderFlags.NeedsChecksum, GsoType = VirtioNetGsoType.TcpV6, GsoSize = 1428 };
        h.Write(bytes);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int sum = 0;
        for (int i = 0; i < 1000; i++)
        {
            VirtioNetHeader.TryRead(bytes, out var r);
            sum += r.GsoSize + (int)r.Validate(2000);
            r.Write(bytes);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1428 * 1000, sum);
    }
}
