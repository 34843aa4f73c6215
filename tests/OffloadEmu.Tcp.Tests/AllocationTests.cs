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
        long allocated = Allocations.Measure(transfer, static t => t.Run(20_000));
        Assert.Equal(0, allocated);
        Assert.True(transfer.BytesReceived > 20_000L * 1400);
        Assert.Equal(0ul, transfer.Sender.Statistics.RetransmittedSegments);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void LossyTransfer_WithRecovery_AllocatesNothingAfterWarmUp(bool sack)
    {
        // Every 97th data segment dropped: out-of-order reassembly, SACK or duplicate ACKs, fast retransmit, recovery.
        var transfer = new BulkTransfer(timestamps: true, sack: sack, dropEvery: 97);
        transfer.Run(5_000);
        long allocated = Allocations.Measure(transfer, static t => t.Run(20_000));
        Assert.Equal(0, allocated);
        Assert.True(transfer.Dropped > 100);
        Assert.True(transfer.Sender.Statistics.FastRetransmits > 50, transfer.Sender.DebugState);
    }

    [Fact]
    public void ReceiveBufferTakeAndReturnChurn_AllocatesNothingAfterWarmUp()
    {
        // Every 7th delivery refused: the receive buffer is taken from the pool, filled, drained and given back over and
        // over (issue 7 "Scale": buffers only while they hold data).
        var pool = new ReceiveBufferPool();
        var transfer = new BulkTransfer(timestamps: true, receiveBuffer: 256 * 1024, refuseEvery: 7, pool: pool);
        transfer.Run(5_000);
        long takes = pool.Takes;
        long allocated = Allocations.Measure(transfer, static t => t.Run(20_000));
        Assert.Equal(0, allocated);
        Assert.True(pool.Takes - takes > 1000, $"{pool.Takes - takes} takes");
        Assert.Equal(1, pool.Allocations);
        Assert.True(transfer.BytesReceived > 20_000L * 1400);
    }
}
