namespace OffloadEmu.Wire.Tests;

public class ArpTests
{
    private static readonly MacAddress MacA = MacAddress.Parse("02:00:5e:00:53:0a");
    private static readonly MacAddress MacB = MacAddress.Parse("02:00:5e:00:53:0b");
    private static readonly Ipv4Address IpA = Ipv4Address.Parse("198.18.200.1");
    private static readonly Ipv4Address IpB = Ipv4Address.Parse("198.18.200.2");

    private static ArpRepr Parse(byte[] frame)
    {
        Assert.True(EthernetFrame.TryCreate(frame, out var eth));
        Assert.True(ArpPacket.TryCreate(eth.Payload, out var arp, out var error), error.ToString());
        Assert.True(ArpRepr.TryParse(arp, out var repr, out error), error.ToString());
        return repr;
    }

    [Fact]
    public void Golden_request_matches_tshark()
    {
        // tshark: Opcode: request (1), Sender MAC 02:00:5e:00:53:0a, Sender IP 198.18.200.1,
        // Target MAC 00:00:00:00:00:00, Target IP 198.18.200.2
        Assert.Equal(new ArpRepr(ArpOperation.Request, MacA, IpA, MacAddress.Zero, IpB), Parse(GoldenFrames.ArpRequest));
    }

    [Fact]
    public void Golden_reply_matches_tshark()
    {
        // tshark: Opcode: reply (2), 198.18.200.2 is at 02:00:5e:00:53:0b
        Assert.Equal(new ArpRepr(ArpOperation.Reply, MacB, IpB, MacA, IpA), Parse(GoldenFrames.ArpReply));
    }

    [Fact]
    public void Padded_frame_is_read_as_28_bytes()
    {
        var padded = new byte[60];
        GoldenFrames.ArpReply.CopyTo(padded, 0);
        Assert.True(EthernetFrame.TryCreate(padded, out var eth));
        Assert.True(ArpPacket.TryCreate(eth.Payload, out var arp));
        Assert.Equal(28, arp.Buffer.Length);
        Assert.Equal(6, arp.HardwareLength);
        Assert.Equal(4, arp.ProtocolLength);
    }

    [Fact]
    public void Repr_round_trips_and_matches_the_kernel_bytes()
    {
        var repr = new ArpRepr(ArpOperation.Reply, MacB, IpB, MacA, IpA);
        var buffer = new byte[repr.BufferLength];
        repr.Emit(buffer);
        Assert.Equal(GoldenFrames.ArpReply[14..], buffer);
        Assert.True(ArpPacket.TryCreate(buffer, out var arp));
        Assert.True(ArpRepr.TryParse(arp, out var parsed));
        Assert.Equal(repr, parsed);
    }

    [Fact]
    public void Other_layouts_are_unsupported()
    {
        var bytes = GoldenFrames.ArpRequest[14..];
        bytes[4] = 8; // hardware length other than Ethernet's 6
        Assert.False(ArpPacket.TryCreate(bytes, out _, out var error));
        Assert.Equal(WireError.Unsupported, error);

        bytes = GoldenFrames.ArpRequest[14..];
        bytes[1] = 6; // IEEE 802 hardware type
        Assert.True(ArpPacket.TryCreate(bytes, out var arp));
        Assert.False(ArpRepr.TryParse(arp, out _, out error));
        Assert.Equal(WireError.Unsupported, error);

        bytes = GoldenFrames.ArpRequest[14..];
        bytes[7] = 3; // RARP request
        Assert.True(ArpPacket.TryCreate(bytes, out arp));
        Assert.False(ArpRepr.TryParse(arp, out _, out error));
        Assert.Equal(WireError.Unsupported, error);
    }

    [Fact]
    public void Setters_write_through()
    {
        var bytes = new byte[28];
        new ArpRepr(ArpOperation.Request, MacA, IpA, MacAddress.Zero, IpB).Emit(bytes);
        Assert.True(ArpPacket.TryCreate(bytes, out var arp));
        arp.Operation = ArpOperation.Reply;
        arp.TargetHardwareAddress = MacB;
        arp.SenderProtocolAddress = IpB;
        Assert.True(ArpRepr.TryParse(arp, out var repr));
        Assert.Equal(new ArpRepr(ArpOperation.Reply, MacA, IpB, MacB, IpB), repr);
    }

    [Theory]
    [InlineData(nameof(GoldenFrames.ArpRequest))]
    [InlineData(nameof(GoldenFrames.ArpReply))]
    public void Every_prefix_is_rejected(string name) => ParseStack.AssertEveryPrefixRejected(Golden.Get(name));
}
