namespace OffloadEmu.Link;

/// <summary>Why a frame was dropped by a device or decorator (indexes <see cref="LinkStatistics"/>).</summary>
public enum DropReason
{
    /// <summary>The interface is down (EIO on a TAP, ENETDOWN on a socket).</summary>
    InterfaceDown,
    /// <summary>The frame is larger than the device accepts.</summary>
    TooLong,
    /// <summary>The frame is shorter than an Ethernet header.</summary>
    TooShort,
    /// <summary>The device's queue was full (EAGAIN/ENOBUFS) or a bounded ring overflowed.</summary>
    QueueFull,
    /// <summary>The impairment decorator dropped it on purpose (loss).</summary>
    Impairment,
    /// <summary>Any other I/O error the device counted and survived.</summary>
    IoError,
    /// <summary>The capture writer could not keep up or its file failed (the frame itself went on).</summary>
    CaptureFailed,
    /// <summary>A TAP in segmentation-offload mode read a virtio-net header that does not describe its frame (unknown flag
    /// or GSO type, gso_size 0, checksum field or hdr_len beyond the frame): the frame was not handed on.</summary>
    BadOffloadHeader,
}
