namespace OffloadEmu.Wire;

/// <summary>Writes hop-by-hop or destination-options extension headers.</summary>
/// <remarks>RFC 8200 §4.2 (option TLVs, Pad1/PadN), §4.3 and §4.6. Only padding is emitted: the
/// emulator originates no options, but tests and the host stack need well-formed headers to
/// exercise the extension-header walk.</remarks>
public static class Ipv6OptionsHeader
{
    /// <summary>Writes an options header of <paramref name="length"/> bytes (a multiple of 8, 8..2048)
    /// whose option area is a single PadN (or Pad1s where fewer than 2 bytes remain).</summary>
    /// <returns>The number of bytes written (<paramref name="length"/>).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is not a valid header length.</exception>
    /// <exception cref="ArgumentException">The buffer is too small.</exception>
    public static int EmitPadding(Span<byte> buffer, IpProtocol nextHeader, int length)
    {
        if (length < 8 || length > 2048 || (length & 7) != 0) ThrowHelper.OutOfRange(nameof(length));
        if (buffer.Length < length) ThrowHelper.BufferTooSmall(length, buffer.Length);
        buffer[0] = (byte)nextHeader;
        buffer[1] = (byte)(length / 8 - 1);
        var options = buffer[2..length];
        while (options.Length > 0)
        {
            if (options.Length == 1) { options[0] = 0; break; }
            int chunk = Math.Min(options.Length, 257);
            if (options.Length - chunk == 1) chunk--; // leave at least 2 so the remainder can be a PadN too
            options[0] = 1;
            options[1] = (byte)(chunk - 2);
            options[2..chunk].Clear();
            options = options[chunk..];
        }
        return length;
    }
}
