using OffloadEmu.Chimney.State;

namespace OffloadEmu.HostStack;

/// <summary>Demultiplexing key of a connection on the interface address of its family (IPv4 or IPv6).</summary>
internal readonly record struct ConnectionKey(IpAddressValue Remote, ushort RemotePort, ushort LocalPort);
