namespace OffloadEmu.Link.Capture;

/// <summary>
/// Which way a frame crossed the link, as seen from our side. The values are the pcapng
/// <c>epb_flags</c> direction bits (RFC draft-ietf-opsawg-pcapng §4.3.1, bits 0-1).
/// </summary>
public enum CaptureDirection
{
    /// <summary>Not recorded (classic pcap, or a pcapng frame without <c>epb_flags</c>).</summary>
    Unknown = 0,
    /// <summary>Received from the wire (the device's Receive).</summary>
    Inbound = 1,
    /// <summary>Sent to the wire (the device's Send).</summary>
    Outbound = 2,
}
