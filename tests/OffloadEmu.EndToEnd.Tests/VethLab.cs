using OffloadEmu.Wire;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// A veth pair with one end in the root namespace (no address, IPv6 off, IPv4 forwarding off, so the
/// root stack neither routes nor answers anything from it) and the other in a fresh test namespace
/// holding the kernel peer at <see cref="PeerIp"/>. Checksum offloads are off on both ends so
/// captures show real checksums.
/// </summary>
internal sealed class VethLab : IDisposable
{
    internal VethLab(string tag, int subnet)
    {
        Namespace = new TestNamespace(tag);
        try
        {
            RootEnd = $"oev{subnet}{Environment.ProcessId}a";   // subnet is unique per test: unique names
            PeerEnd = $"oev{subnet}{Environment.ProcessId}b";
            Cmd.TryRun("ip", "link", "del", RootEnd);   // leftover of this same pid only
            Cmd.Run("ip", "link", "add", RootEnd, "type", "veth", "peer", "name", PeerEnd, "netns", Namespace.Name);
            Namespace.OwnRootInterface(RootEnd);
            Cmd.Run("sysctl", "-qw", $"net.ipv6.conf.{RootEnd}.disable_ipv6=1");
            Cmd.Run("sysctl", "-qw", $"net.ipv4.conf.{RootEnd}.forwarding=0");
            Cmd.Run("ethtool", "-K", RootEnd, "tx", "off", "tso", "off", "gso", "off", "gro", "off");
            Namespace.Exec("ethtool", "-K", PeerEnd, "tx", "off", "tso", "off", "gso", "off", "gro", "off");
            Cmd.Run("ip", "link", "set", RootEnd, "up");
            OurIp = new Ipv4Address(198, 18, (byte)subnet, 2);
            PeerIp = new Ipv4Address(198, 18, (byte)subnet, 1);
            Namespace.ConfigureInside(PeerEnd, $"{PeerIp}/24");
            // The emulated NIC's MAC differs from the root end's own MAC, so the root kernel sees the
            // peer's replies as PACKET_OTHERHOST and drops them instead of processing them.
            OurMac = MacAddress.FromUInt64(0x02_4F_45_00_00_00UL | (uint)(Environment.ProcessId & 0xFFFF) << 8 | (uint)subnet);
        }
        catch
        {
            Namespace.Dispose();
            throw;
        }
    }

    internal TestNamespace Namespace { get; }
    internal string RootEnd { get; }
    internal string PeerEnd { get; }
    internal Ipv4Address OurIp { get; }
    internal Ipv4Address PeerIp { get; }
    internal MacAddress OurMac { get; }

    /// <summary>The kernel-side MAC of the peer end.</summary>
    internal MacAddress PeerMac => MacAddress.Parse(Namespace.Exec("cat", $"/sys/class/net/{PeerEnd}/address").Trim());

    public void Dispose() => Namespace.Dispose();
}
