using System.Diagnostics.CodeAnalysis;

namespace OffloadEmu.Wire;

/// <summary>Throw sites kept out of line so the hot emit and setter paths stay small and inlinable.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    internal static void BufferTooSmall(int needed, int actual)
        => throw new ArgumentException($"Buffer of {actual} bytes is too small; {needed} bytes are needed.", "buffer");

    [DoesNotReturn]
    internal static void OutOfRange(string paramName)
        => throw new ArgumentOutOfRangeException(paramName);
}
