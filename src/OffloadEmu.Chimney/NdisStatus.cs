namespace OffloadEmu.Chimney;

/// <summary>The NDIS status codes of the chimney contract, with their real numeric values.</summary>
/// <remarks>
/// Chimney spec §7 (values from the WDK headers) and §9: member names are the NDIS constants without the
/// <c>NDIS_STATUS_</c> prefix, in PascalCase. Where the documentation spells a code differently from the header, the
/// header name wins (spec §9.1-§9.4). Codes with the 0xC... prefix are errors, 0x4... are informational.
/// </remarks>
public enum NdisStatus : uint
{
    /// <summary>NDIS_STATUS_SUCCESS: done.</summary>
    Success = 0x0000_0000,

    /// <summary>NDIS_STATUS_PENDING: the sole return of the TCP I/O handlers; completion follows (spec §0).</summary>
    Pending = 0x0000_0103,

    /// <summary>NDIS_STATUS_FAILURE: the block failed (or its state was lost).</summary>
    Failure = 0xC000_0001,

    /// <summary>NDIS_STATUS_RESOURCES: initiate failed for lack of host memory.</summary>
    Resources = 0xC000_009A,

    /// <summary>NDIS_STATUS_NOT_SUPPORTED: an intermediate driver refusing chimney.</summary>
    NotSupported = 0xC000_00BB,

    /// <summary>NDIS_STATUS_INVALID_STATE: receive posted after the disconnect was indicated (spec §3).</summary>
    InvalidState = 0xC000_0184,

    /// <summary>NDIS_STATUS_REQUEST_ABORTED: I/O after a RST or abortive close, receive error, hardware-failure cleanup.</summary>
    RequestAborted = 0xC001_000C,

    /// <summary>NDIS_STATUS_PAUSED: never used for chimney sends (spec §5).</summary>
    Paused = 0xC023_002A,

    /// <summary>NDIS_STATUS_UPLOAD_IN_PROGRESS: the connection is being uploaded; the host takes the work back.</summary>
    UploadInProgress = 0xC023_1001,

    /// <summary>NDIS_STATUS_REQUEST_UPLOAD: an intermediate driver could not propagate a send (first NBL, spec §1).</summary>
    RequestUpload = 0xC023_1002,

    /// <summary>NDIS_STATUS_UPLOAD_REQUESTED: an intermediate driver could not propagate a send (later NBLs, spec §1).</summary>
    UploadRequested = 0xC023_1003,

    /// <summary>NDIS_STATUS_OFFLOAD_TCP_ENTRIES: initiate, the TCP connection table is full.</summary>
    OffloadTcpEntries = 0xC023_1004,

    /// <summary>NDIS_STATUS_OFFLOAD_PATH_ENTRIES: initiate, the path table is full.</summary>
    OffloadPathEntries = 0xC023_1005,

    /// <summary>NDIS_STATUS_OFFLOAD_NEIGHBOR_ENTRIES: initiate, the neighbour table is full.</summary>
    OffloadNeighborEntries = 0xC023_1006,

    /// <summary>NDIS_STATUS_OFFLOAD_IP_ADDRESS_ENTRIES: initiate, no room for the source IP address.</summary>
    OffloadIpAddressEntries = 0xC023_1007,

    /// <summary>NDIS_STATUS_OFFLOAD_HW_ADDRESS_ENTRIES: initiate, the source MAC address cannot be used.</summary>
    OffloadHwAddressEntries = 0xC023_1008,

    /// <summary>NDIS_STATUS_OFFLOAD_VLAN_ENTRIES: initiate, VLAN identifiers exhausted (spec §6.5).</summary>
    OffloadVlanEntries = 0xC023_1009,

    /// <summary>NDIS_STATUS_OFFLOAD_TCP_XMIT_BUFFER: initiate, no transmit buffer.</summary>
    OffloadTcpXmitBuffer = 0xC023_100A,

    /// <summary>NDIS_STATUS_OFFLOAD_TCP_RCV_BUFFER: initiate, no receive buffer.</summary>
    OffloadTcpRcvBuffer = 0xC023_100B,

    /// <summary>NDIS_STATUS_OFFLOAD_TCP_RCV_WINDOW: initiate, InitialRcvWnd too big.</summary>
    OffloadTcpRcvWindow = 0xC023_100C,

    /// <summary>NDIS_STATUS_OFFLOAD_VLAN_MISMATCH: initiate, a non-zero VlanId the NIC is not configured for (spec §6.5).</summary>
    OffloadVlanMismatch = 0xC023_100D,

    /// <summary>NDIS_STATUS_OFFLOAD_DATA_NOT_ACCEPTED: the host took none of an indication (spec §3).</summary>
    OffloadDataNotAccepted = 0xC023_100E,

    /// <summary>NDIS_STATUS_OFFLOAD_POLICY: defined, unused by targets.</summary>
    OffloadPolicy = 0xC023_100F,

    /// <summary>NDIS_STATUS_OFFLOAD_DATA_PARTIALLY_ACCEPTED: the host took part of an indication (spec §3).</summary>
    OffloadDataPartiallyAccepted = 0xC023_1010,

    /// <summary>NDIS_STATUS_OFFLOAD_REQUEST_RESET: defined, unused by targets.</summary>
    OffloadRequestReset = 0xC023_1011,

    /// <summary>NDIS_STATUS_OFFLOAD_CONNECTION_REJECTED (NDIS 6.20): initiate, the connection is a poor candidate.</summary>
    OffloadConnectionRejected = 0xC023_1012,

    /// <summary>NDIS_STATUS_OFFLOAD_PATH_REJECTED (NDIS 6.20): initiate, the path is a poor candidate (spec §7 note).</summary>
    OffloadPathRejected = 0xC023_1013,

    /// <summary>
    /// NDIS_STATUS_OFFLOAD_PATH_MTU: initiate, the path MTU is too big. The headers give it no value; [EMU] private
    /// code 0xC0231FFF (spec §9.8).
    /// </summary>
    OffloadPathMtu = 0xC023_1FFF,

    /// <summary>NDIS_STATUS_MEDIA_DISCONNECT: the link is lost (the daemon's status while its device is gone and it
    /// retries opening it, docs/target.md "Device faults").</summary>
    MediaDisconnect = 0x4001_000B,

    /// <summary>NDIS_STATUS_ADAPTER_REMOVED: the target is gone for good (a remote target whose control session closed,
    /// docs/control.md "The server disappears"); indicated once, after every outstanding request completed. The host
    /// fails what it still has: its connections cannot send through a NIC that is not there.</summary>
    AdapterRemoved = 0xC001_0018,

    /// <summary>NDIS_STATUS_OFFLOAD_PAUSE: adapter status, stop offloading new objects (spec §6.6).</summary>
    OffloadPause = 0x4002_0001,

    /// <summary>NDIS_STATUS_UPLOAD_ALL: adapter status, terminate every offloaded object (spec §6.6).</summary>
    UploadAll = 0x4002_0002,

    /// <summary>NDIS_STATUS_OFFLOAD_RESUME: adapter status, re-read capabilities and offload again (spec §6.6).</summary>
    OffloadResume = 0x4002_0003,

    /// <summary>NDIS_STATUS_OFFLOAD_PARTIAL_SUCCESS: initiate, the object but not all its dependents offloaded (spec §2).</summary>
    OffloadPartialSuccess = 0x4002_0004,

    /// <summary>NDIS_STATUS_OFFLOAD_STATE_INVALID: defined in the headers, undocumented.</summary>
    OffloadStateInvalid = 0x4002_0005,
}
