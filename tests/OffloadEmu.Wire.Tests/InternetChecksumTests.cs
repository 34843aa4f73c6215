using FsCheck;
using FsCheck.Fluent;

namespace OffloadEmu.Wire.Tests;

public class InternetChecksumTests
{
    // RFC 1071 §4.1 in its plainest form: add big-endian 16-bit words, pad an odd byte, fold carries.
    private static ushort NaiveFold(ulong sum)
    {
        while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    private static ushort NaiveFold(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (int i = 0; i < data.Length; i += 2)
        {
            int word = data[i] << 8;
            if (i + 1 < data.Length) word |= data[i + 1];
            sum += (uint)word;
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)sum;
    }

    [Fact]
    public void Vector_scalar_and_naive_agree_for_every_length_and_alignment()
    {
        var random = new Random(1071);
        var buffer = new byte[3000 + 32];
        random.NextBytes(buffer);
        for (int offset = 0; offset < 32; offset++)
        {
            // The naive reference, extended one byte at a time so that it stays O(n) per offset:
            // 'words' sums the complete words, an odd last byte is added as a padded word.
            ulong words = 0;
            for (int length = 0; length <= 3000; length++)
            {
                var data = buffer.AsSpan(offset, length);
                if (length >= 2 && length % 2 == 0) words += (ulong)((data[length - 2] << 8) | data[length - 1]);
                ushort naive = NaiveFold(length % 2 == 0 ? words : words + ((ulong)data[length - 1] << 8));
                ushort scalar = InternetChecksum.Fold(InternetChecksum.AccumulateScalar(data, 0));
                ushort vector = InternetChecksum.Fold(InternetChecksum.AccumulateVector(data, 0));
                ushort dispatched = InternetChecksum.Fold(InternetChecksum.Accumulate(data));
                if (naive != scalar || naive != vector || naive != dispatched)
                    Assert.Fail($"offset {offset} length {length}: naive {naive:x4} scalar {scalar:x4} vector {vector:x4} dispatched {dispatched:x4}");
            }
        }
    }

    [Fact]
    public void Vector_path_handles_all_ones_without_losing_carries()
    {
        // Worst case for carries: every word 0xFFFF. One's-complement sum of n such words is 0xFFFF.
        var ones = new byte[65536];
        ones.AsSpan().Fill(0xFF);
        Assert.Equal(0xFFFF, InternetChecksum.Fold(InternetChecksum.AccumulateVector(ones, 0)));
        Assert.Equal(NaiveFold(ones), InternetChecksum.Fold(InternetChecksum.AccumulateVector(ones, 0)));
        // And it continues an existing accumulator exactly like the scalar path.
        var random = new byte[1500];
        new Random(5).NextBytes(random);
        Assert.Equal(InternetChecksum.Fold(InternetChecksum.AccumulateScalar(random, 0x1234_5678)),
            InternetChecksum.Fold(InternetChecksum.AccumulateVector(random, 0x1234_5678)));
    }

    [Fact]
    public void Rfc1071_example_sums_to_ddf2()
    {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
        var data = new byte[] { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
        Assert.Equal(0xddf2, InternetChecksum.Fold(InternetChecksum.Accumulate(data)));
        Assert.Equal(0x220d, InternetChecksum.Compute(data));
    }

    [Fact]
    public void Ipv4_pseudo_header_verifies_the_golden_tcp_syn()
    {
        // tshark -o tcp.check_checksum:TRUE: Checksum 0x662e [correct] for 198.18.200.1 -> 198.18.200.2, 40-byte segment.
        var frame = GoldenFrames.TcpSyn;
        Assert.True(EthernetFrame.TryCreate(frame, out var eth));
        Assert.True(Ipv4Packet.TryCreate(eth.Payload, out var ip));
        var segment = ip.Payload;
        Assert.Equal(40, segment.Length);
        ulong pseudo = InternetChecksum.PseudoHeader(ip.Source, ip.Destination, IpProtocol.Tcp, segment.Length);
        Assert.True(InternetChecksum.IsValid(segment, pseudo));
        var copy = segment.ToArray();
        copy[16] = 0; copy[17] = 0;
        Assert.Equal(0x662e, InternetChecksum.Finish(InternetChecksum.Accumulate(copy, pseudo)));
        Assert.False(InternetChecksum.IsValid(segment, pseudo + 1));
    }

    [Fact]
    public void Ipv6_pseudo_header_verifies_the_golden_icmpv6_packet_too_big()
    {
        // tshark: ICMPv6 Checksum 0x65c3 [correct], 1240-byte message 2001:2::2 -> 2001:2::1.
        var frame = GoldenFrames.PacketTooBig;
        Assert.True(EthernetFrame.TryCreate(frame, out var eth));
        Assert.True(Ipv6Packet.TryCreate(eth.Payload, out var ip));
        var message = ip.UpperLayerPayload.ToArray();
        ulong pseudo = InternetChecksum.PseudoHeader(ip.Source, ip.Destination, IpProtocol.Icmpv6, message.Length);
        Assert.True(InternetChecksum.IsValid(message, pseudo));
        message[2] = 0; message[3] = 0;
        Assert.Equal(0x65c3, InternetChecksum.Finish(InternetChecksum.AccumulateVector(message, pseudo)));
        Assert.Equal(0x65c3, InternetChecksum.Finish(InternetChecksum.AccumulateScalar(message, pseudo)));
    }

    [Fact]
    public void Incremental_update_of_a_word_equals_full_recompute()
    {
        var gen = Gen.Choose(2, 200).SelectMany(words =>
            Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), words * 2).SelectMany(bytes =>
                Gen.Choose(0, words - 1).SelectMany(index =>
                    Gen.Choose(0, 0xFFFF).Select(value => (bytes, index, value)))));
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (bytes, index, value) = t;
            // The field being updated is the word at 'index'; the checksum lives in word 0 (or 1 when index is 0).
            int checksumAt = index == 0 ? 2 : 0;
            bytes[checksumAt] = 0; bytes[checksumAt + 1] = 0;
            ushort original = InternetChecksum.Compute(bytes);
            bytes[checksumAt] = (byte)(original >> 8); bytes[checksumAt + 1] = (byte)original;
            ushort oldWord = (ushort)((bytes[index * 2] << 8) | bytes[index * 2 + 1]);
            bytes[index * 2] = (byte)(value >> 8); bytes[index * 2 + 1] = (byte)value;
            ushort updated = InternetChecksum.Update(original, oldWord, (ushort)value);
            bytes[checksumAt] = (byte)(updated >> 8); bytes[checksumAt + 1] = (byte)updated;
            // The updated field must make the data verify, as a recomputed one does.
            return InternetChecksum.IsValid(bytes);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Incremental_update_equals_recompute_exactly_for_nonzero_data()
    {
        var gen = Gen.Choose(0, 0xFFFF).SelectMany(a => Gen.Choose(0, 0xFFFF).SelectMany(b =>
            Gen.Choose(0, 0xFFFF).Select(c => (a, b, c))));
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            // Header: [checksum][fixed 0x1234][field]; update 'field' from b to c with a 32-bit variant too.
            Span<byte> data = stackalloc byte[10];
            data[2] = 0x12; data[3] = 0x34;
            data[4] = (byte)(t.a >> 8); data[5] = (byte)t.a;
            data[6] = (byte)(t.b >> 8); data[7] = (byte)t.b; data[8] = 0xAB; data[9] = 0xCD;
            ushort before = InternetChecksum.Compute(data);
            uint oldValue = (uint)((t.b << 16) | 0xABCD);
            uint newValue = (uint)((t.c << 16) | 0x0102);
            data[6] = (byte)(t.c >> 8); data[7] = (byte)t.c; data[8] = 0x01; data[9] = 0x02;
            ushort recomputed = InternetChecksum.Compute(data);
            // 0x1234 keeps the sum non-zero, so the ±0 ambiguity of RFC 1624 §3 cannot arise.
            return InternetChecksum.Update(before, oldValue, newValue) == recomputed;
        }).QuickCheckThrowOnFailure();
    }
}
