namespace OffloadEmu.Wire.Tests;

public class EthernetTests
{
    private static readonly MacAddress MacA = MacAddress.Parse("02:00:5e:00:53:0a");
    private static readonly MacAddress MacB = MacAddress.Parse("02:00:5e:00:53:0b");

    [Fact]
    public void Golden_untagged_frame_fields_match_tshark()
    {
        var bytes = GoldenFrames.ArpRequest;
        Assert.True(EthernetFrame.TryCreate(bytes, out var frame, out var error));
        Assert.Equal(WireError.None, error);
        // tshark: Dst: Broadcast, Src: 02:00:5e:00:53:0a, Type: ARP (0x0806)
        Assert.Equal(MacAddress.Broadcast, frame.Destination);
        Assert.Equal(MacA, frame.Source);
        Assert.Equal(EtherType.Arp, frame.EtherType);
        Assert.False(frame.HasVlanTag);
        Assert.Null(frame.VlanTag);
        Assert.Equal(14, frame.HeaderLength);
        Assert.Equal(28, frame.Payload.Length);
    }

    [Fact]
    public void Golden_vlan_frame_exposes_tag_and_inner_ethertype()
    {
        var bytes = GoldenFrames.VlanTaggedEcho;
        Assert.True(EthernetFrame.TryCreate(bytes, out var frame));
        // tshark: 802.1Q Virtual LAN, PRI: 5, DEI: 1, ID: 100, Type: IPv4 (0x0800)
        Assert.True(frame.HasVlanTag);
        Assert.Equal(EtherType.Vlan, frame.OuterEtherType);
        Assert.Equal(EtherType.Ipv4, frame.EtherType);
        var tag = frame.VlanTag!.Value;
        Assert.Equal(100, tag.Id);
        Assert.Equal(5, tag.Priority);
        Assert.True(tag.DropEligible);
        Assert.Equal(18, frame.HeaderLength);
        Assert.Equal(MacB, frame.Source);
        Assert.Equal(MacA, frame.Destination);
        // tshark: Internet Protocol Version 4 ... Total Length: 37
        Assert.True(Ipv4Packet.TryCreate(frame.Payload, out var ip));
        Assert.Equal(37, ip.TotalLength);

        Assert.True(EthernetRepr.TryParse(frame, out var repr, out _));
        Assert.Equal(new EthernetRepr(MacB, MacA, EtherType.Ipv4, new VlanTag(100, 5, true)), repr);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Repr_round_trips(bool tagged)
    {
        var repr = new EthernetRepr(MacA, MacB, EtherType.Ipv6, tagged ? new VlanTag(4095, 7, false) : null);
        var buffer = new byte[repr.BufferLength + 10];
        repr.Emit(buffer);
        Assert.True(EthernetFrame.TryCreate(buffer, out var frame));
        Assert.Equal(repr.BufferLength, frame.HeaderLength);
        Assert.Equal(10, frame.Payload.Length);
        Assert.True(EthernetRepr.TryParse(frame, out var parsed));
        Assert.Equal(repr, parsed);
        Assert.Equal(repr.GetHashCode(), parsed.GetHashCode());
    }

    [Fact]
    public void Setters_write_through_to_the_buffer()
    {
        var bytes = GoldenFrames.VlanTaggedEcho;
        Assert.True(EthernetFrame.TryCreate(bytes, out var frame));
        frame.VlanTag = new VlanTag(7, 1);
        frame.EtherType = EtherType.Ipv6;
        frame.Source = MacA;
        Assert.Equal(new byte[] { 0x81, 0x00, 0x20, 0x07, 0x86, 0xDD }, bytes[12..18]);
        Assert.Equal(MacA, MacAddress.Read(bytes.AsSpan(6)));
    }

    [Fact]
    public void Short_buffers_are_truncated()
    {
        Assert.False(EthernetFrame.TryCreate(new byte[13], out _, out var error));
        Assert.Equal(WireError.Truncated, error);
        // A tag is announced but the buffer stops before the inner EtherType.
        var tagged = GoldenFrames.VlanTaggedEcho.AsSpan(0, 17).ToArray();
        Assert.False(EthernetFrame.TryCreate(tagged, out _, out error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void VlanTag_rejects_out_of_range_parts()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new VlanTag(4096, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new VlanTag(1, 8));
        var tag = new VlanTag(0xA064);
        Assert.Equal((100, (byte)5, false), (tag.Id, tag.Priority, tag.DropEligible));
    }

    [Fact]
    public void Every_prefix_of_the_vlan_frame_is_rejected() => ParseStack.AssertEveryPrefixRejected(GoldenFrames.VlanTaggedEcho);
}
