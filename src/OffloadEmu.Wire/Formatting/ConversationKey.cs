namespace OffloadEmu.Wire.Formatting;

/// <summary>
/// A TCP conversation as tcpdump keys it for relative sequence numbers: the two endpoints in a
/// canonical order (lower port first; on equal ports, lower address first), for IPv4 or IPv6.
/// </summary>
internal readonly record struct ConversationKey(ulong SrcHigh, ulong SrcLow, ulong DstHigh, ulong DstLow, uint Ports);
