using OffloadEmu.Link.Capture;

namespace OffloadEmu.Daemon.Options;

/// <summary>The <c>Capture</c> section: a capture file of every frame the NIC sends and receives.</summary>
public sealed class CaptureFileOptions
{
    /// <summary>The configuration section name.</summary>
    public const string SectionName = "Capture";

    /// <summary>Capture file path (relative to the working directory); empty = no capture.</summary>
    public string File { get; set; } = "";

    /// <summary>pcapng (default) or pcap.</summary>
    public CaptureFormat Format { get; set; } = CaptureFormat.PcapNg;

    /// <summary>Rotate to FILE.1.EXT, FILE.2.EXT... when a file would pass this size; 0 = never.</summary>
    public long MaxFileBytes { get; set; }

    /// <summary>Longest time a frame waits in the write buffer before it reaches the file, in ms. Default 1000.</summary>
    public int FlushIntervalMilliseconds { get; set; } = 1000;

    /// <summary>Bytes kept of each frame (64..262144; the file records the original length). Default 262144: whole
    /// frames. A small value (e.g. 128: the headers) keeps long bulk runs' captures small.</summary>
    public int SnapLength { get; set; } = 262144;

    /// <summary>Mirror every control message into the capture as a second interface (pcapng only; link type 252,
    /// dissected by scripts/wireshark/offloademu.lua). Default true.</summary>
    public bool Control { get; set; } = true;
}
