using System.Runtime.InteropServices;

namespace OffloadEmu.Link.Native;

/// <summary>struct packet_mreq, for PACKET_ADD_MEMBERSHIP (promiscuous mode held by the socket).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct PacketMReq
{
    internal int IfIndex;
    internal ushort Type;
    internal ushort AddressLength;
    internal fixed byte Address[8];
}
