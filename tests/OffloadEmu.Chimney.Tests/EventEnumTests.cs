namespace OffloadEmu.Chimney.Tests;

public class EventEnumTests
{
    [Fact]
    public void Tcp_event_types_have_the_header_values()
    {
        Assert.Equal(1, (int)TcpOffloadEventType.SendBacklogChange);
        Assert.Equal(2, (int)TcpOffloadEventType.Disconnect);
        Assert.Equal(3, (int)TcpOffloadEventType.Retrieve);
        Assert.Equal(4, (int)TcpOffloadEventType.Abort);
        Assert.Equal(4, Enum.GetValues<TcpOffloadEventType>().Length);
    }

    [Fact]
    public void Upload_reasons_run_from_1_to_11_in_header_order()
    {
        Assert.Equal(
            new[] { "LowActivity", "HighDropRate", "SmallIO", "NoBufferPreposting", "ReceivedUrgentData", "HighFragmentation", "HighOutOfOrderPackets", "TimeoutExpiration", "InvalidState", "UploadRequested", "HardwareFailure" },
            Enum.GetValues<TcpUploadReason>().OrderBy(r => r).Select(r => r.ToString()));
        Assert.Equal(Enumerable.Range(1, 11), Enum.GetValues<TcpUploadReason>().Select(r => (int)r).Order());
    }

    [Fact]
    public void Mandatory_upload_reasons_are_the_five_of_spec_6_3()
    {
        var mandatory = Enum.GetValues<TcpUploadReason>().Where(r => r.IsMandatory()).ToHashSet();
        Assert.Equal(new HashSet<TcpUploadReason>
        {
            TcpUploadReason.HardwareFailure, TcpUploadReason.InvalidState, TcpUploadReason.ReceivedUrgentData,
            TcpUploadReason.TimeoutExpiration, TcpUploadReason.UploadRequested,
        }, mandatory);
    }

    [Fact]
    public void Neighbor_codes_and_disconnect_flags_have_the_header_values()
    {
        Assert.Equal(1, (int)NeighborEventCode.InDoubt);
        Assert.Equal(2, (int)NeighborEventCode.Query);
        Assert.Equal(1, (int)TcpDisconnectFlags.Graceful);
        Assert.Equal(2, (int)TcpDisconnectFlags.Abortive);
    }
}
