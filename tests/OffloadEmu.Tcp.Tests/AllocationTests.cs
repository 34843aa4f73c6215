namespace OffloadEmu.Tcp.Tests;

/// <summary>Architecture §4: the machine allocates nothing per segment once warmed up.</summary>
public class AllocationTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BulkTransfer_AllocatesNothingAfterWarmUp(bool timestamps)
    {
        var transfer = new BulkTransfer(timestamps);
        transfer.Run(5_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        transfer.Run(20_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(transfer.BytesReceived > 20_000L * 1400);
        Assert.Equal(0ul, transfer.Sender.Statistics.RetransmittedSegments);
    }
}
