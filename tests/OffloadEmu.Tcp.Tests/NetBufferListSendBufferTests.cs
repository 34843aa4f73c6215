using OffloadEmu.Chimney;
using OffloadEmu.Tcp;
using static OffloadEmu.Tcp.Tests.Harness;

namespace OffloadEmu.Tcp.Tests;

/// <summary>Chimney spec §5: NetBufferLists (chains of memory segments) as send buffers, read in place and completed in order.</summary>
public class NetBufferListSendBufferTests
{
    [Fact]
    public void SegmentsAreReadAcrossNetBuffersAndSegments_AndTheListIsCompleted()
    {
        var h = Established();
        var sink = new RecordingSink();
        h.M.SendCompletionSink = sink;
        var list = new NetBufferList();
        var nb1 = list.AddBuffer();
        nb1.AddSegment("hel"u8.ToArray());
        nb1.AddSegment("lo, "u8.ToArray());
        var nb2 = list.AddBuffer();
        nb2.AddSegment("world"u8.ToArray());
        var buffer = new NetBufferListSendBuffer(list);
        Assert.Equal(12, buffer.Length);
        Assert.True(h.M.Enqueue(buffer));
        var seg = h.Recv().Single();
        Assert.Equal("hello, world", System.Text.Encoding.ASCII.GetString(seg.Payload));
        h.Send(SendTemplate with { SequenceNumber = RemoteSeq + 1, AckNumber = LocalSeq + 13 });
        Assert.Same(list, ((NetBufferListSendBuffer)sink.Completed.Single().Buffer).List);
    }
}
