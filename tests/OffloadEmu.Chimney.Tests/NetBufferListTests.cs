using FsCheck;
using FsCheck.Fluent;

namespace OffloadEmu.Chimney.Tests;

public class NetBufferListTests
{
    private static readonly Gen<int[][]> Shape =
        Gen.Choose(1, 4).SelectMany(nbs => Gen.ArrayOf(Gen.Choose(1, 3).SelectMany(segs => Gen.ArrayOf(Gen.Choose(0, 7), segs)), nbs));

    // A chain of lists, one per element of `shape` (each an array of NB segment-length arrays), over writable memory.
    private static (NetBufferList Head, byte[] Flat) BuildChain(int[][][] shape)
    {
        var flat = new List<byte>();
        NetBufferList? head = null, tail = null;
        foreach (var nbl in shape)
        {
            var list = new NetBufferList(nbl.Length, 3);
            foreach (var nb in nbl)
            {
                var buffer = list.AddBuffer();
                foreach (int len in nb)
                {
                    var seg = new byte[len];
                    for (int i = 0; i < len; i++) { seg[i] = (byte)(flat.Count + 1); flat.Add(seg[i]); }
                    buffer.AddWritableSegment(seg);
                }
            }
            NetBufferListChain.Append(ref head, ref tail, list);
        }
        return (head!, flat.ToArray());
    }

    [Fact]
    public void Chain_copy_in_and_out_matches_the_flat_model_at_every_offset()
    {
        var gen = Gen.Choose(1, 3).SelectMany(n => Gen.ArrayOf(Shape, n));
        Prop.ForAll(gen.ToArbitrary(), shape =>
        {
            var (head, flat) = BuildChain(shape);
            Assert.Equal(flat.Length, NetBufferListChain.GetDataLength(head));
            for (int offset = 0; offset <= flat.Length; offset++)
            {
                var dest = new byte[flat.Length - offset + 1];
                int n = NetBufferListChain.CopyTo(head, offset, dest);
                Assert.Equal(flat.Length - offset, n);
                Assert.Equal(flat[offset..], dest[..n]);

                // Write a marker run and read it back through the list-level API of the first list when it covers it.
                var marker = Enumerable.Repeat((byte)0xEE, Math.Min(3, flat.Length - offset)).ToArray();
                Assert.Equal(marker.Length, NetBufferListChain.CopyFrom(head, offset, marker));
                var back = new byte[marker.Length];
                NetBufferListChain.CopyTo(head, offset, back);
                Assert.Equal(marker, back);
                flat.AsSpan(offset, marker.Length).Fill(0xEE);
            }
            var all = new byte[flat.Length];
            NetBufferListChain.CopyTo(head, 0, all);
            Assert.Equal(flat, all);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void List_copy_spans_its_net_buffers()
    {
        var (head, flat) = BuildChain([[[2, 3], [0], [4]]]);
        Assert.Null(head.Next);
        Assert.Equal(9, head.DataLength);
        for (int offset = 0; offset <= 9; offset++)
        {
            var dest = new byte[9];
            Assert.Equal(9 - offset, head.CopyTo(offset, dest));
            Assert.Equal(flat[offset..], dest[..(9 - offset)]);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => head.CopyTo(10, new byte[1]));
    }

    [Fact]
    public void Chain_helpers_count_find_the_tail_and_enumerate_in_order()
    {
        var a = new NetBufferList { RequestId = 1 };
        var b = new NetBufferList { RequestId = 2 };
        var c = new NetBufferList { RequestId = 3 };
        NetBufferList? head = null, tail = null;
        Assert.Equal(0, NetBufferListChain.Count(head));
        Assert.Null(NetBufferListChain.GetLast(head));
        NetBufferListChain.Append(ref head, ref tail, a);
        b.Next = c;
        NetBufferListChain.Append(ref head, ref tail, b); // appends a sub-chain
        Assert.Same(a, head);
        Assert.Same(c, tail);
        Assert.Equal(3, NetBufferListChain.Count(head));
        var ids = new List<ulong>();
        foreach (var l in NetBufferListChain.Enumerate(head))
        {
            ids.Add(l.RequestId);
            l.Next = null; // unlinking while walking is allowed
        }
        Assert.Equal(new ulong[] { 1, 2, 3 }, ids);
    }

    [Fact]
    public void Buffer_capacity_is_fixed_and_reset_clears_everything()
    {
        var list = new NetBufferList(2, 1);
        list.AddBuffer().AddSegment(new byte[3]);
        list.AddBuffer();
        Assert.False(list.TryAddBuffer(out _));
        Assert.Throws<InvalidOperationException>(() => list.AddBuffer());
        list.Status = NdisStatus.RequestAborted;
        list.TcpOffloadBytesTransferred = 3;
        list.TcpReceiveNoPush = true;
        list.TcpReceiveBytesTransferred = 1;
        list.Next = new NetBufferList();
        list.ProtocolReserved = "host";
        list.MiniportReserved = "target";
        list.RequestId = 9;
        Assert.NotEmpty(list.ToString());

        list.Reset();
        Assert.Equal(0, list.BufferCount);
        Assert.Equal(NdisStatus.Success, list.Status);
        Assert.Equal(0, list.TcpOffloadBytesTransferred);
        Assert.False(list.TcpReceiveNoPush);
        Assert.Equal(0, list.TcpReceiveBytesTransferred);
        Assert.Null(list.Next);
        Assert.Null(list.ProtocolReserved);
        Assert.Null(list.MiniportReserved);
        Assert.Equal(0ul, list.RequestId);
        // The net buffer handed out again is empty.
        Assert.Equal(0, list.AddBuffer().SegmentCount);
    }
}
