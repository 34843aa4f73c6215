namespace OffloadEmu.Link;

/// <summary>Checksum and segmentation work a device does for us. Devices hand over and take fully checksummed, wire-sized
/// frames (<see cref="None"/>) except a TAP in segmentation-offload mode.</summary>
[Flags]
public enum ChecksumCapabilities
{
    /// <summary>Frames are sent and received with every checksum filled in and unverified by the device.</summary>
    None = 0,
    /// <summary>The device fills in TCP/UDP checksums on send (virtio-net header with NEEDS_CSUM).</summary>
    TxOffload = 1,
    /// <summary>The device reports frames whose checksums it verified.</summary>
    RxValidated = 2,
    /// <summary>Segmentation offload (a TAP's virtio-net header with TUNSETOFFLOAD): the device takes TCP super-segments
    /// (up to 64 KiB, cut into <see cref="FrameBuffer.Offload"/>'s gso_size by the kernel) and hands over super-frames the
    /// kernel did not segment; receive buffers must hold <see cref="FramePool.SuperFrameBufferSize"/> bytes.</summary>
    SegmentationOffload = 4,
}
