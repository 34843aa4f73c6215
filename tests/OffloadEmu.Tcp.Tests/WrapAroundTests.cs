namespace OffloadEmu.Tcp.Tests;

/// <summary>Sequence numbers are compared modulo 2^32 (RFC 9293 §3.4): a transfer longer than 4 GiB wraps the whole
/// sequence space and must keep working (no comparison against the ISS or any stale value).</summary>
public class WrapAroundTests
{
    [Fact]
    public void BulkTransfer_PastTheFullSequenceSpace_KeepsWorking()
    {
        var transfer = new BulkTransfer(timestamps: true, chunk: 1 << 20, buffers: 8, receiveBuffer: 4 << 20);
        var una = transfer.Sender.SndUna;
        long segments = (5L << 30) / 1448;
        transfer.Run(segments);
        Assert.True(transfer.BytesReceived > (5L << 30) - (1 << 22));
        Assert.Equal(0ul, transfer.Sender.Statistics.RetransmittedSegments);
        Assert.Equal(0ul, transfer.Receiver.Statistics.InErrors);
        _ = una;
    }
}
