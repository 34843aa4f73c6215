namespace OffloadEmu.Wire;

/// <summary>Why a view or representation refused a buffer. Parsing never throws; it reports one of these.</summary>
public enum WireError
{
    /// <summary>No error.</summary>
    None = 0,
    /// <summary>The buffer ends before the header (or the length the header claims) does.</summary>
    Truncated,
    /// <summary>A version field has a value this codec does not handle (e.g. IPv4 version != 4).</summary>
    BadVersion,
    /// <summary>A header-length field is out of range (IPv4 IHL &lt; 5, TCP data offset &lt; 5, or beyond the packet).</summary>
    BadHeaderLength,
    /// <summary>A total/payload length field disagrees with the buffer.</summary>
    BadLength,
    /// <summary>A checksum does not verify.</summary>
    BadChecksum,
    /// <summary>An option has an illegal length (0, 1, overrunning the header, wrong for its kind).</summary>
    BadOption,
    /// <summary>A field has a value this codec rejects (unknown hardware type, wrong address length, ...).</summary>
    Unsupported,
    /// <summary>The destination buffer is too small to emit into.</summary>
    BufferTooSmall,
}
