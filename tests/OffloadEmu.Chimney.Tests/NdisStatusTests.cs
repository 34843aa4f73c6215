namespace OffloadEmu.Chimney.Tests;

public class NdisStatusTests
{
    // Spec §7 table (values from the WDK headers) plus the [EMU] private OFFLOAD_PATH_MTU (§9.8).
    public static TheoryData<NdisStatus, uint> Table => new()
    {
        { NdisStatus.Success, 0x0000_0000 },
        { NdisStatus.Pending, 0x0000_0103 },
        { NdisStatus.Failure, 0xC000_0001 },
        { NdisStatus.Resources, 0xC000_009A },
        { NdisStatus.RequestAborted, 0xC001_000C },
        { NdisStatus.InvalidState, 0xC000_0184 },
        { NdisStatus.NotSupported, 0xC000_00BB },
        { NdisStatus.Paused, 0xC023_002A },
        { NdisStatus.UploadInProgress, 0xC023_1001 },
        { NdisStatus.RequestUpload, 0xC023_1002 },
        { NdisStatus.UploadRequested, 0xC023_1003 },
        { NdisStatus.OffloadTcpEntries, 0xC023_1004 },
        { NdisStatus.OffloadPathEntries, 0xC023_1005 },
        { NdisStatus.OffloadNeighborEntries, 0xC023_1006 },
        { NdisStatus.OffloadIpAddressEntries, 0xC023_1007 },
        { NdisStatus.OffloadHwAddressEntries, 0xC023_1008 },
        { NdisStatus.OffloadVlanEntries, 0xC023_1009 },
        { NdisStatus.OffloadTcpXmitBuffer, 0xC023_100A },
        { NdisStatus.OffloadTcpRcvBuffer, 0xC023_100B },
        { NdisStatus.OffloadTcpRcvWindow, 0xC023_100C },
        { NdisStatus.OffloadVlanMismatch, 0xC023_100D },
        { NdisStatus.OffloadDataNotAccepted, 0xC023_100E },
        { NdisStatus.OffloadPolicy, 0xC023_100F },
        { NdisStatus.OffloadDataPartiallyAccepted, 0xC023_1010 },
        { NdisStatus.OffloadRequestReset, 0xC023_1011 },
        { NdisStatus.OffloadConnectionRejected, 0xC023_1012 },
        { NdisStatus.OffloadPathRejected, 0xC023_1013 },
        { NdisStatus.OffloadPathMtu, 0xC023_1FFF },
        { NdisStatus.OffloadPause, 0x4002_0001 },
        { NdisStatus.UploadAll, 0x4002_0002 },
        { NdisStatus.OffloadResume, 0x4002_0003 },
        { NdisStatus.OffloadPartialSuccess, 0x4002_0004 },
        { NdisStatus.OffloadStateInvalid, 0x4002_0005 },
        // Not in the §7 table: the generic NDIS adapter status the daemon reports while its link is lost (docs/target.md).
        { NdisStatus.MediaDisconnect, 0x4001_000B },
        // The generic NDIS status a remote target indicates when its control session closed (docs/control.md).
        { NdisStatus.AdapterRemoved, 0xC001_0018 },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Value_is_the_header_value(NdisStatus status, uint value) => Assert.Equal(value, (uint)status);

    [Fact]
    public void Every_member_is_pinned_and_values_are_unique()
    {
        var pinned = Table.Select(row => (NdisStatus)row[0]).ToHashSet();
        Assert.Equal(pinned.Count, Table.Count());
        Assert.Equal(pinned.OrderBy(s => s), Enum.GetValues<NdisStatus>().OrderBy(s => s));
        Assert.Equal(Enum.GetNames<NdisStatus>().Length, Enum.GetValues<NdisStatus>().Distinct().Count());
    }

    [Fact]
    public void Names_are_the_ndis_constants_without_prefix()
    {
        // NDIS_STATUS_OFFLOAD_DATA_PARTIALLY_ACCEPTED -> OffloadDataPartiallyAccepted, etc.
        static string FromConstant(string c)
            => string.Concat(c["NDIS_STATUS_".Length..].Split('_').Select(w => w[0] + w[1..].ToLowerInvariant()));
        Assert.Equal("OffloadDataPartiallyAccepted", FromConstant("NDIS_STATUS_OFFLOAD_DATA_PARTIALLY_ACCEPTED"));
        foreach (var c in new[]
        {
            "NDIS_STATUS_OFFLOAD_TCP_ENTRIES", "NDIS_STATUS_OFFLOAD_HW_ADDRESS_ENTRIES", "NDIS_STATUS_OFFLOAD_IP_ADDRESS_ENTRIES",
            "NDIS_STATUS_OFFLOAD_TCP_XMIT_BUFFER", "NDIS_STATUS_OFFLOAD_TCP_RCV_WINDOW", "NDIS_STATUS_OFFLOAD_VLAN_MISMATCH",
            "NDIS_STATUS_UPLOAD_IN_PROGRESS", "NDIS_STATUS_REQUEST_ABORTED", "NDIS_STATUS_OFFLOAD_PARTIAL_SUCCESS",
            "NDIS_STATUS_OFFLOAD_PATH_MTU", "NDIS_STATUS_UPLOAD_ALL", "NDIS_STATUS_OFFLOAD_STATE_INVALID",
        })
        {
            Assert.True(Enum.TryParse<NdisStatus>(FromConstant(c), out _), c);
        }
    }
}
