using System.Runtime.InteropServices;

namespace OffloadEmu.Link.Native;

/// <summary>struct pollfd.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PollFd
{
    internal int Fd;
    internal short Events;
    internal short REvents;
}
