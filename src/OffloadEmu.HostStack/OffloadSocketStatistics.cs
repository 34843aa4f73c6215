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
public readonly record struct OffloadSocketStatistics(
    ConnectionLocation Location, int Offloads, int Uploads, long BytesWritten, long BytesReceived, TcpStatistics HostTcp);
