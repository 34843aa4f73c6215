namespace OffloadEmu.Chimney.State;

/// <summary>The delegated variables of an offloaded IP path (PATH_OFFLOAD_STATE_DELEGATED): none.</summary>
/// <remarks>
/// Chimney spec §2: the NDIS structure holds only its header. It exists so that every layer has the three state
/// classes and a TCP/IP "All" block or a query can name it uniformly.
/// </remarks>
public readonly record struct PathDelegatedState;
