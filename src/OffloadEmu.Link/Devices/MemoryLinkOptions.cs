using OffloadEmu.Wire;

namespace OffloadEmu.Link.Devices;

/// <summary>Settings for a <see cref="MemoryLink"/> pair.</summary>
public sealed class MemoryLinkOptions
{
    /// <summary>Frames each direction holds before further sends are dropped as <see cref="DropReason.QueueFull"/>. Default 1024.</summary>
    public int Capacity { get; init; } = 1024;

    /// <summary>IP MTU of the link. Default 1500.</summary>
    public int Mtu { get; init; } = 1500;

    /// <summary>Name of end A. Default "mem0".</summary>
    public string NameA { get; init; } = "mem0";

    /// <summary>Name of end B. Default "mem1".</summary>
    public string NameB { get; init; } = "mem1";

    /// <summary>
    /// Both ends report <see cref="ChecksumCapabilities.SegmentationOffload"/> (with TxOffload and RxValidated) and carry each
    /// frame's <see cref="FrameBuffer.Offload"/> to the other end unchanged, super-frames up to
    /// <see cref="FramePool.SuperFrameBufferSize"/> included: a stand-in for a TAP in segmentation-offload mode and the
    /// kernel behind it (which the receiving side plays: it cuts or completes what it gets). Off by default.
    /// </summary>
    public bool SegmentationOffload { get; init; }

    /// <summary>MAC of end A. Default 02:00:00:00:00:0a.</summary>
    public MacAddress MacAddressA { get; init; } = MacAddress.FromUInt64(0x02_00_00_00_00_0AUL);

    /// <summary>MAC of end B. Default 02:00:00:00:00:0b.</summary>
    public MacAddress MacAddressB { get; init; } = MacAddress.FromUInt64(0x02_00_00_00_00_0BUL);
}
