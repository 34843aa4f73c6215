using System.Buffers.Binary;
using System.Diagnostics;
using OffloadEmu.Link;
using OffloadEmu.Wire;

namespace OffloadEmu.EndToEnd.Tests;

/// <summary>
/// The exchange every device test runs against a Linux kernel peer: ARP for the peer's address,
/// then ICMP echo to it, asserting the fields of both replies. Kernel ARP requests for our own
/// address are answered, so the kernel can reach us even if it chose to resolve us first.
/// </summary>
internal sealed class KernelPeerExchange
{
    private readonly ILinkDevice _device;
    private readonly MacAddress _ourMac;
    private readonly Ipv4Address _ourIp;
    private readonly Ipv4Address _peerIp;
    private readonly FramePool _pool = new(FramePool.DefaultBufferSize, 64);

    internal KernelPeerExchange(ILinkDevice device, MacAddress ourMac, Ipv4Address ourIp, Ipv4Address peerIp)
    {
        _device = device;
        _ourMac = ourMac;
        _ourIp = ourIp;
        _peerIp = peerIp;
    }

    internal const ushort EchoId = 0x4f45;   // "OE"
    internal const ushort EchoSeq = 1;

    /// <summary>Resolves the peer's MAC with ARP; asserts the reply's fields.</summary>
    internal MacAddress ResolvePeer()
    {
        Send(f => TestFrames.ArpRequest(f, _ourMac, _ourIp, _peerIp));
        MacAddress peerMac = default;
        bool got = ReceiveUntil(f =>
        {
            if (TestFrames.EtherType(f) != TestFrames.EtherTypeArp) return false;
            var arp = TestFrames.ParseArp(f);
            if (arp.Op != 2 || arp.Spa != _peerIp) return false;
            Assert.Equal(_ourMac, MacAddress.Read(f));           // unicast back to us
            Assert.Equal(arp.Sha, MacAddress.Read(f[6..]));       // sender MAC = Ethernet source
            Assert.Equal(_ourMac, arp.Tha);
            Assert.Equal(_ourIp, arp.Tpa);
            peerMac = arp.Sha;
            return true;
        });
        Assert.True(got, $"no ARP reply from {_peerIp} on {_device.Name} within the timeout ({_device.Statistics})");
        return peerMac;
    }

    /// <summary>Pings the peer once; asserts the echo reply's fields and checksums.</summary>
    internal void Ping(MacAddress peerMac)
    {
        Send(f => TestFrames.EchoRequest(f, _ourMac, peerMac, _ourIp, _peerIp, EchoId, EchoSeq));
        bool got = ReceiveUntil(f =>
        {
            if (TestFrames.EtherType(f) != TestFrames.EtherTypeIpv4 || f.Length < 14 + 28) return false;
            var ip = f[14..];
            if (ip[9] != 1 || Ipv4Address.Read(ip[12..]) != _peerIp) return false;
            int ihl = (ip[0] & 0xF) * 4;
            int total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
            var icmp = ip[ihl..total];
            if (icmp[0] != 0) return false;
            Assert.Equal(_ourMac, MacAddress.Read(f));
            Assert.Equal(peerMac, MacAddress.Read(f[6..]));
            Assert.Equal(_ourIp, Ipv4Address.Read(ip[16..]));
            Assert.True(InternetChecksum.IsValid(ip[..ihl]), "bad IPv4 header checksum in the echo reply");
            Assert.True(InternetChecksum.IsValid(icmp), "bad ICMP checksum in the echo reply");
            Assert.Equal(0, icmp[1]);
            Assert.Equal(EchoId, BinaryPrimitives.ReadUInt16BigEndian(icmp[4..]));
            Assert.Equal(EchoSeq, BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]));
            Assert.Equal(32, icmp.Length - 8);
            for (int i = 0; i < 32; i++) Assert.Equal((byte)('a' + i % 26), icmp[8 + i]);
            return true;
        });
        Assert.True(got, $"no ICMP echo reply from {_peerIp} on {_device.Name} within the timeout ({_device.Statistics})");
    }

    private delegate int Build(Span<byte> frame);
    private delegate bool Match(ReadOnlySpan<byte> frame);

    private void Send(Build build)
    {
        var buffer = _pool.Rent();
        try
        {
            buffer.Length = build(buffer.Capacity);
            Assert.Equal(1, _device.Send(new[] { buffer }));
        }
        finally
        {
            _pool.Return(buffer);
        }
    }

    private bool ReceiveUntil(Match match, int timeoutMs = 5000)
    {
        var batch = new FrameBuffer[8];
        for (int i = 0; i < batch.Length; i++) batch[i] = _pool.Rent();
        try
        {
            var sw = Stopwatch.StartNew();
            while (sw.ElapsedMilliseconds < timeoutMs)
            {
                int n = _device.Receive(batch, 200);
                for (int i = 0; i < n; i++)
                {
                    var f = batch[i].Span;
                    if (TestFrames.EtherType(f) == TestFrames.EtherTypeArp)
                    {
                        var arp = TestFrames.ParseArp(f);
                        if (arp.Op == 1 && arp.Tpa == _ourIp)
                            Send(r => TestFrames.ArpReply(r, _ourMac, _ourIp, arp.Sha, arp.Spa));
                    }
                    if (match(f)) return true;
                }
            }
            return false;
        }
        finally
        {
            foreach (var b in batch) _pool.Return(b);
        }
    }
}
