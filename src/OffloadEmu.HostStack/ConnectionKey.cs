using OffloadEmu.Wire;

namespace OffloadEmu.HostStack;

/// <summary>Demultiplexing key of a connection on the single interface address.</summary>
internal readonly record struct ConnectionKey(Ipv4Address Remote, ushort RemotePort, ushort LocalPort);
