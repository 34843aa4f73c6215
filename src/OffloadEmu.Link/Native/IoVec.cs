using System.Runtime.InteropServices;

namespace OffloadEmu.Link.Native;

/// <summary>struct iovec, for readv/writev around the virtio-net header.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IoVec
{
    internal void* Base;
    internal nuint Length;
}
