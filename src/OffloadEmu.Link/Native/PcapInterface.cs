using System.Runtime.InteropServices;

namespace OffloadEmu.Link.Native;

/// <summary>The head of struct pcap_if (pcap_findalldevs): next, name, description, addresses, flags.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct PcapInterface
{
    internal PcapInterface* Next;
    internal byte* Name;
    internal byte* Description;
    internal void* Addresses;
    internal uint Flags;
}
