using OffloadEmu.Wire;

namespace OffloadEmu.Link.Native;

/// <summary>Reads an interface's index, MTU and MAC by name in the caller's network namespace.</summary>
internal static unsafe class InterfaceInfo
{
    /// <summary>The interface index, or throws naming the interface.</summary>
    internal static int GetIndex(string name)
    {
        uint index = Libc.IfNameToIndex(name);
        if (index == 0)
        {
            int errno = Libc.Errno;
            throw new LinkDeviceException(name, "no such interface in this network namespace", errno);
        }
        return (int)index;
    }

    /// <summary>The interface MTU (SIOCGIFMTU on a throw-away datagram socket).</summary>
    internal static int GetMtu(string name)
    {
        var req = IfReq.ForName(name);
        ControlIoctl(name, Libc.SIOCGIFMTU, &req, "SIOCGIFMTU");
        return req.Mtu;
    }

    /// <summary>The interface's hardware address (SIOCGIFHWADDR).</summary>
    internal static MacAddress GetMac(string name)
    {
        var req = IfReq.ForName(name);
        ControlIoctl(name, Libc.SIOCGIFHWADDR, &req, "SIOCGIFHWADDR");
        return MacAddress.Read(new ReadOnlySpan<byte>(req.HwAddrData, MacAddress.Length));
    }

    private static void ControlIoctl(string name, nuint request, IfReq* req, string what)
    {
        int fd = Libc.Socket(Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0) throw new LinkDeviceException(name, "socket(AF_INET) for interface ioctls failed", Libc.Errno);
        try
        {
            if (Libc.Ioctl(fd, request, req) < 0)
                throw new LinkDeviceException(name, $"{what} failed", Libc.Errno);
        }
        finally
        {
            Libc.Close(fd);
        }
    }
}
