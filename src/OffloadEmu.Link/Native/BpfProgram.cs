using System.Runtime.InteropServices;

namespace OffloadEmu.Link.Native;

/// <summary>struct bpf_program filled by pcap_compile and freed by pcap_freecode.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct BpfProgram
{
    internal uint Length;
    internal void* Instructions;
}
