namespace OffloadEmu.Control.Protocol;

/// <summary>Constants of the control wire format (docs/control.md).</summary>
public static class ControlProtocol
{
    /// <summary>"OEMU" in a little-endian u32: the first field of the hello.</summary>
    public const uint Magic = 0x554D_454F;

    /// <summary>The protocol version this build speaks. 2 added fragmented state requests and completions
    /// (<see cref="MessageType.Fragment"/>, <see cref="MessageType.ServerFragment"/>); 3 added the engine loops to
    /// <see cref="MessageType.StatusInfo"/>; 4 the segmentation-offload mode and its super-frame counters after them.</summary>
    public const ushort Version = 4;

    /// <summary>The oldest version a server still serves (the session then speaks that version: no fragments).</summary>
    public const ushort MinVersion = 1;

    /// <summary>The first version with fragmented messages.</summary>
    public const ushort FragmentVersion = 2;

    /// <summary>The first version whose StatusInfo ends with the engine loops (device queues, per-loop counters): the
    /// server writes that section only to sessions of this version or later, so older clients read the reply they know.</summary>
    public const ushort LoopStatusVersion = 3;

    /// <summary>The first version whose StatusInfo ends, after the engine loops, with the segmentation-offload section
    /// (mode u8, then the device's and the target's super-frames in and out, u64 each): written only to sessions of this
    /// version or later.</summary>
    public const ushort SuperFrameStatusVersion = 4;

    /// <summary>Largest payload of a fragmented message once reassembled (64 MiB): an initiate handing over the send and
    /// receive buffers of a connection, a terminate returning its undelivered receive data.</summary>
    public const int MaxFragmentedMessageSize = 64 * 1024 * 1024;

    /// <summary>A fragment's own header inside its payload: inner type u16, reserved u16 (0), whole length u32, offset u32,
    /// piece length u32.</summary>
    public const int FragmentHeaderSize = 16;

    /// <summary>Header: u32 payload length, u16 type, u16 reserved (0), u64 request id; little endian.</summary>
    public const int HeaderSize = 16;

    /// <summary>Default upper bound of a payload (4 MiB).</summary>
    public const int DefaultMaxMessageSize = 4 * 1024 * 1024;

    /// <summary>Longest client name in a hello, in UTF-8 bytes.</summary>
    public const int MaxNameBytes = 256;

    /// <summary>Most blocks in one state tree.</summary>
    public const int MaxTreeBlocks = 4096;

    /// <summary>Deepest dependent nesting in a state tree (neighbour, path, TCP need 3).</summary>
    public const int MaxTreeDepth = 8;

    /// <summary>Most NBLs in one chain, and most NBs in one NBL.</summary>
    public const int MaxChainLength = 65_536;

    /// <summary>Most NBs in one NBL.</summary>
    public const int MaxBuffersPerList = 1024;
}
