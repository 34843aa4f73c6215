using FsCheck;
using FsCheck.Fluent;

namespace OffloadEmu.Chimney.Tests;

public class NetBufferTests
{
    // A buffer over `lengths` writable segments with a flat model of the same bytes.
    private static (NetBuffer Nb, byte[] Flat) Build(int[] lengths, bool writable = true, int spare = 0)
    {
        var nb = new NetBuffer(Math.Max(1, lengths.Length + spare));
        var flat = new byte[lengths.Sum()];
        int pos = 0;
        foreach (int len in lengths)
        {
            var seg = new byte[len];
            for (int i = 0; i < len; i++) seg[i] = flat[pos + i] = (byte)(pos + i + 1);
            pos += len;
            if (writable) nb.AddWritableSegment(seg);
            else nb.AddSegment(seg);
        }
        return (nb, flat);
    }

    private static readonly Gen<int[]> SegmentLengths =
        Gen.Choose(1, 6).SelectMany(n => Gen.ArrayOf(Gen.Frequency((1, Gen.Constant(0)), (6, Gen.Choose(1, 9))), n));

    [Fact]
    public void CopyTo_matches_the_flat_model_at_every_offset_and_length()
    {
        var gen = from lengths in SegmentLengths
                  from skip in Gen.Choose(0, lengths.Sum())
                  select (lengths, skip);
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (nb, flat) = Build(t.lengths, writable: false);
            nb.Advance(t.skip);
            var data = flat.AsSpan(t.skip);
            Assert.Equal(data.Length, nb.DataLength);
            for (int offset = 0; offset <= data.Length; offset++)
            {
                for (int len = 0; len <= data.Length - offset + 2; len++)
                {
                    var dest = new byte[len];
                    int n = nb.CopyTo(offset, dest);
                    Assert.Equal(Math.Min(len, data.Length - offset), n);
                    Assert.True(data.Slice(offset, n).SequenceEqual(dest.AsSpan(0, n)));
                }
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void CopyFrom_writes_across_segment_boundaries_at_every_offset()
    {
        var gen = from lengths in SegmentLengths
                  from skip in Gen.Choose(0, lengths.Sum())
                  select (lengths, skip);
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            int total = t.lengths.Sum();
            for (int offset = 0; offset <= total - t.skip; offset++)
            {
                for (int len = 0; len <= total - t.skip - offset + 2; len++)
                {
                    var (nb, flat) = Build(t.lengths);
                    nb.Advance(t.skip);
                    var source = Enumerable.Range(0, len).Select(i => (byte)(200 + i)).ToArray();
                    int n = nb.CopyFrom(offset, source);
                    Assert.Equal(Math.Min(len, total - t.skip - offset), n);
                    source.AsSpan(0, n).CopyTo(flat.AsSpan(t.skip + offset));

                    // Read the whole chain back, bytes before the data start included.
                    nb.SetData(0, total);
                    var back = new byte[total];
                    Assert.Equal(total, nb.CopyTo(0, back));
                    Assert.Equal(flat, back);
                }
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Advance_moves_the_data_start_like_a_completion()
    {
        var (nb, flat) = Build([3, 0, 4, 5]);
        Assert.Equal(12, nb.DataLength);
        nb.Advance(5);
        Assert.Equal(5, nb.DataOffset);
        Assert.Equal(7, nb.DataLength);
        var dest = new byte[7];
        nb.CopyTo(0, dest);
        Assert.Equal(flat[5..], dest);
        Assert.Throws<ArgumentOutOfRangeException>(() => nb.Advance(8));
        nb.Advance(7);
        Assert.Equal(0, nb.DataLength);
        Assert.Equal(0, nb.CopyTo(0, dest));
    }

    [Fact]
    public void Read_only_segments_refuse_writes()
    {
        var nb = new NetBuffer();
        nb.AddWritableSegment(new byte[4]);
        nb.AddSegment(new byte[4]);
        Assert.False(nb.IsWritable);
        Assert.Throws<InvalidOperationException>(() => nb.CopyFrom(0, new byte[1]));
        nb.Reset();
        Assert.True(nb.IsWritable);
        Assert.Equal(0, nb.SegmentCount);
    }

    [Fact]
    public void Segment_capacity_is_fixed()
    {
        var nb = new NetBuffer(2);
        nb.AddSegment(new byte[1]);
        nb.AddSegment(new byte[1]);
        Assert.Throws<InvalidOperationException>(() => nb.AddSegment(new byte[1]));
    }

    [Fact]
    public void Offsets_outside_the_data_are_rejected()
    {
        var (nb, _) = Build([4]);
        Assert.Throws<ArgumentOutOfRangeException>(() => nb.CopyTo(5, new byte[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => nb.CopyTo(-1, new byte[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => nb.SetData(2, 3));
    }

    [Fact]
    public void SetData_limits_what_is_copied()
    {
        var (nb, flat) = Build([4, 4], spare: 1);
        nb.SetData(2, 3);
        var dest = new byte[8];
        Assert.Equal(3, nb.CopyTo(0, dest));
        Assert.Equal(flat[2..5], dest[..3]);
        // A segment added after a narrowed window does not widen it.
        nb.AddSegment(new byte[4]);
        Assert.Equal(3, nb.DataLength);
        Assert.Equal(12, nb.TotalLength);
    }
}
