namespace OffloadEmu.Link;

/// <summary>Checksum work a device does for us. All our devices hand over and take fully checksummed frames.</summary>
[Flags]
public enum ChecksumCapabilities
{
    /// <summary>Frames are sent and received with every checksum filled in and unverified by the device.</summary>
    None = 0,
    /// <summary>The device fills in TCP/UDP checksums on send (virtio-net header with NEEDS_CSUM).</summary>
    TxOffload = 1,
    /// <summary>The device reports frames whose checksums it verified.</summary>
    RxValidated = 2,
}
