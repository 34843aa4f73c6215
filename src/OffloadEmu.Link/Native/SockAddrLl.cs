using System.Runtime.InteropServices;

namespace OffloadEmu.Link.Native;

/// <summary>struct sockaddr_ll (linux/if_packet.h), 20 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct SockAddrLl
{
    internal ushort Family;
    internal ushort Protocol;   // network byte order
    internal int IfIndex;
    internal ushort HaType;
    internal byte PktType;
    internal byte HaLen;
    internal fixed byte Addr[8];
}
