namespace OffloadEmu.Link.Capture;

/// <summary>A capture file is truncated or malformed. <see cref="Offset"/> is where reading stopped.</summary>
public sealed class CaptureFormatException : Exception
{
    /// <summary>Creates the exception for a problem found at byte <paramref name="offset"/> of the file.</summary>
    public CaptureFormatException(long offset, string message)
        : base($"Capture file malformed at offset {offset}: {message}")
    {
        Offset = offset;
    }

    /// <summary>Byte offset in the file of the block or record that could not be read.</summary>
    public long Offset { get; }
}
