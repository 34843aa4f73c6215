namespace OffloadEmu.Control.Protocol;

/// <summary>Sees one whole framed message (header and payload) a connection received or sent.</summary>
internal delegate void FrameObserver(bool received, ReadOnlySpan<byte> frame);
