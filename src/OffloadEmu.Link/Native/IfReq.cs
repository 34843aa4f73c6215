using System.Runtime.InteropServices;
using System.Text;

namespace OffloadEmu.Link.Native;

/// <summary>
/// struct ifreq (40 bytes on 64-bit Linux): a 16-byte name then a 24-byte union, of which we use
/// ifr_flags (short, TUNSETIFF), ifr_mtu (int, SIOCGIFMTU) and ifr_hwaddr (struct sockaddr,
/// SIOCGIFHWADDR: 2-byte family then the MAC in sa_data).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
internal unsafe struct IfReq
{
    internal const int NameSize = 16;

    [FieldOffset(0)] internal fixed byte Name[NameSize];
    [FieldOffset(16)] internal short Flags;
    [FieldOffset(16)] internal int Mtu;
    [FieldOffset(16)] internal ushort HwAddrFamily;
    [FieldOffset(18)] internal fixed byte HwAddrData[14];

    /// <summary>Creates a request for <paramref name="name"/> (at most 15 bytes; the kernel's IFNAMSIZ).</summary>
    internal static IfReq ForName(string name)
    {
        var req = default(IfReq);
        var bytes = Encoding.ASCII.GetBytes(name);
        if (bytes.Length >= NameSize) throw new ArgumentException($"Interface name '{name}' is longer than 15 characters.", nameof(name));
        for (int i = 0; i < bytes.Length; i++) req.Name[i] = bytes[i];
        return req;
    }

    /// <summary>The NUL-terminated name the kernel filled in.</summary>
    internal readonly string GetName()
    {
        fixed (byte* p = Name)
        {
            int n = 0;
            while (n < NameSize && p[n] != 0) n++;
            return Encoding.ASCII.GetString(p, n);
        }
    }
}
