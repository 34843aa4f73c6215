using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;

namespace OffloadEmu.HostStack;

/// <summary>A snapshot of one connection's counters.</summary>
/// <param name="Location">Where the connection lived when the snapshot was taken.</param>
/// <param name="Offloads">Initiates whose TCP block succeeded.</param>
/// <param name="Uploads">Terminates that brought the connection back.</param>
/// <param name="BytesWritten">Bytes the application wrote.</param>
/// <param name="BytesReceived">Bytes received for the application.</param>
/// <param name="HostTcp">TCP statistics of the host-mode periods (the host machine's segments; segments the target
/// handled are counted per interface by the target, spec §6.10).</param>
/// <param name="State">The connection's TCP state now, in the chimney's delegated-state shape (state, SndUna/SndNxt/
/// SndMax, RcvNxt, windows, CWnd/SsThresh, SRtt×8/RttVar×4 in ticks, retransmit count): read from the target with
/// QueryOffloadState while offloaded, exported from the host machine otherwise; null once the connection is gone or
/// while it moves (offloading, uploading). The chimney keeps no per-connection segment counters on the NIC, so this is
/// what there is to see of an offloaded connection (like <c>ss -ti</c>).</param>
public readonly record struct OffloadSocketStatistics(
    ConnectionLocation Location, int Offloads, int Uploads, long BytesWritten, long BytesReceived, TcpStatistics HostTcp,
    TcpDelegatedState? State = null);
