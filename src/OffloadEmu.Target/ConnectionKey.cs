using OffloadEmu.Chimney.State;

namespace OffloadEmu.Target;

/// <summary>The receive demultiplexing key of an offloaded connection: addresses and ports as seen on arrival
/// (remote = source, local = destination).</summary>
internal readonly record struct ConnectionKey(IpAddressValue Remote, IpAddressValue Local, ushort RemotePort, ushort LocalPort);
