using System.Runtime.InteropServices;

namespace OffloadEmu.Link.Native;

/// <summary>
/// The libc calls the Linux devices need. Every call sets the last P/Invoke error so callers read
/// errno with <see cref="Marshal.GetLastPInvokeError"/> right after a failing call.
/// </summary>
internal static unsafe partial class Libc
{
    private const string Lib = "libc";

    [LibraryImport(Lib, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport(Lib, EntryPoint = "read", SetLastError = true)]
    internal static partial nint Read(int fd, byte* buffer, nint count);

    [LibraryImport(Lib, EntryPoint = "write", SetLastError = true)]
    internal static partial nint Write(int fd, byte* buffer, nint count);

    [LibraryImport(Lib, EntryPoint = "readv", SetLastError = true)]
    internal static partial nint ReadV(int fd, IoVec* iov, int count);

    [LibraryImport(Lib, EntryPoint = "writev", SetLastError = true)]
    internal static partial nint WriteV(int fd, IoVec* iov, int count);

    // ioctl is variadic in C; with one pointer argument the x86-64 and AArch64 Linux calling
    // conventions pass it exactly like a fixed argument, which is what every binding relies on.
    [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int Ioctl(int fd, nuint request, void* argument);

    [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
    internal static partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    [LibraryImport(Lib, EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    [LibraryImport(Lib, EntryPoint = "bind", SetLastError = true)]
    internal static partial int Bind(int fd, void* address, uint addressLength);

    [LibraryImport(Lib, EntryPoint = "setsockopt", SetLastError = true)]
    internal static partial int SetSockOpt(int fd, int level, int name, void* value, uint valueLength);

    [LibraryImport(Lib, EntryPoint = "send", SetLastError = true)]
    internal static partial nint Send(int fd, byte* buffer, nint length, int flags);

    [LibraryImport(Lib, EntryPoint = "recv", SetLastError = true)]
    internal static partial nint Recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport(Lib, EntryPoint = "recvfrom", SetLastError = true)]
    internal static partial nint RecvFrom(int fd, byte* buffer, nint length, int flags, void* address, uint* addressLength);

    [LibraryImport(Lib, EntryPoint = "eventfd", SetLastError = true)]
    internal static partial int EventFd(uint initialValue, int flags);

    [LibraryImport(Lib, EntryPoint = "if_nametoindex", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial uint IfNameToIndex(string name);

    // open(2) flags (identical on x86-64 and AArch64 Linux).
    internal const int O_RDWR = 0x2;
    internal const int O_NONBLOCK = 0x800;
    internal const int O_CLOEXEC = 0x80000;

    // eventfd(2) flags (the O_ values).
    internal const int EFD_NONBLOCK = O_NONBLOCK;
    internal const int EFD_CLOEXEC = O_CLOEXEC;

    // poll(2) events.
    internal const short POLLIN = 0x1;
    internal const short POLLOUT = 0x4;
    internal const short POLLERR = 0x8;
    internal const short POLLHUP = 0x10;
    internal const short POLLNVAL = 0x20;

    // errno values used to tell a countable drop from a fatal error.
    internal const int EINTR = 4;
    internal const int EIO = 5;
    internal const int ENXIO = 6;
    internal const int EBADF = 9;
    internal const int EAGAIN = 11;
    internal const int ENODEV = 19;
    internal const int EINVAL = 22;
    internal const int EBADFD = 77;
    internal const int EMSGSIZE = 90;
    internal const int ENETDOWN = 100;
    internal const int ENOBUFS = 105;

    // socket(2).
    internal const int AF_INET = 2;
    internal const int AF_PACKET = 17;
    internal const int SOCK_DGRAM = 2;
    internal const int SOCK_RAW = 3;
    internal const int SOCK_NONBLOCK = 0x800;
    internal const int SOCK_CLOEXEC = 0x80000;
    internal const int SOL_SOCKET = 1;
    internal const int SO_RCVBUF = 8;
    internal const int SO_SNDBUF = 7;
    internal const int MSG_DONTWAIT = 0x40;
    internal const int MSG_TRUNC = 0x20;

    // AF_PACKET (linux/if_packet.h, linux/if_ether.h).
    internal const int SOL_PACKET = 263;
    internal const int PACKET_ADD_MEMBERSHIP = 1;
    internal const int PACKET_MR_PROMISC = 1;
    internal const int PACKET_IGNORE_OUTGOING = 23;
    internal const int PACKET_FANOUT = 18;
    internal const int PACKET_FANOUT_HASH = 0;
    internal const ushort ETH_P_ALL = 0x0003;
    internal const byte PACKET_OUTGOING = 4;

    // TUN/TAP (linux/if_tun.h): _IOW('T', 202, int) and friends.
    internal const nuint TUNSETIFF = 0x400454ca;
    internal const nuint TUNSETPERSIST = 0x400454cb;
    internal const nuint TUNGETIFF = 0x800454d2;
    internal const nuint TUNSETVNETHDRSZ = 0x400454d8;
    internal const nuint TUNSETOFFLOAD = 0x400454d0;
    internal const nuint TUNSETVNETLE = 0x400454dc;
    internal const uint TUN_F_CSUM = 0x01;
    internal const uint TUN_F_TSO4 = 0x02;
    internal const uint TUN_F_TSO6 = 0x04;
    internal const uint TUN_F_TSO_ECN = 0x08;
    internal const short IFF_TAP = 0x0002;
    internal const short IFF_NO_PI = 0x1000;
    internal const short IFF_VNET_HDR = 0x4000;
    internal const short IFF_MULTI_QUEUE = 0x0100;

    // Interface ioctls (linux/sockios.h).
    internal const nuint SIOCGIFFLAGS = 0x8913;
    internal const nuint SIOCGIFMTU = 0x8921;
    internal const nuint SIOCGIFHWADDR = 0x8927;

    /// <summary>errno of the last failed call on this thread.</summary>
    internal static int Errno => Marshal.GetLastPInvokeError();

    /// <summary>Host-to-network order for 16-bit values (Linux targets here are little-endian).</summary>
    internal static ushort HostToNetwork(ushort value) => BitConverter.IsLittleEndian ? (ushort)((value >> 8) | (value << 8)) : value;

    /// <summary>The text of an errno value, for exception messages (off the hot path).</summary>
    internal static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
