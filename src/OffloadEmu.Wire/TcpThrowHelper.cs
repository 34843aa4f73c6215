using System.Diagnostics.CodeAnalysis;

namespace OffloadEmu.Wire;

/// <summary>Throws for the TCP codec, kept out of line so the callers' hot paths stay small.</summary>
internal static class TcpThrowHelper
{
    [DoesNotReturn]
    internal static void ThrowSackIndex()
        => throw new ArgumentOutOfRangeException("index", "SACK block index is not below SackBlockCount.");

    [DoesNotReturn]
    internal static void ThrowDestinationTooSmall()
        => throw new ArgumentException("The destination buffer is too small for the TCP header, options and payload.", "buffer");

    [DoesNotReturn]
    internal static void ThrowPayloadLengthMismatch()
        => throw new ArgumentException("The payload length differs from TcpRepr.PayloadLength.", "payload");
}
