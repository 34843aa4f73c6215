namespace OffloadEmu.Wire;

/// <summary>The R, S and O flags of a neighbor advertisement, in their wire positions in the first flags byte.</summary>
/// <remarks>RFC 4861 §4.4.</remarks>
[Flags]
public enum NeighborAdvertisementFlags : byte
{
    /// <summary>No flag set.</summary>
    None = 0,
    /// <summary>O: override an existing cache entry.</summary>
    Override = 0x20,
    /// <summary>S: sent in response to a solicitation.</summary>
    Solicited = 0x40,
    /// <summary>R: the sender is a router.</summary>
    Router = 0x80,
}
