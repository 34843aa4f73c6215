using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Chimney.Tests.State;

public class StateEqualityTests
{
    internal static TcpDelegatedState SampleDelegated() => new()
    {
        State = TcpState.Established,
        RcvNxt = new SeqNumber(1000),
        RcvWnd = 65535,
        SndUna = new SeqNumber(0xFFFF_FF00),
        SndNxt = new SeqNumber(0x10),
        SndMax = new SeqNumber(0x20),
        SndWnd = 1 << 20,
        MaxSndWnd = 1 << 21,
        SendWL1 = new SeqNumber(999),
        CWnd = 14600,
        SsThresh = 0xFFFF_FFFF,
        SRtt = 80,
        RttVar = 20,
        TsRecent = 123456,
        TsRecentAge = 3,
        TsTime = 777,
        TotalRT = 0,
        DupAckCount = 1,
        SndWndProbeCount = 0,
        KeepAlive = new TcpKeepAliveState(0, 7_200_000),
        Retransmit = new TcpRetransmitState(2, 0),
        SendBacklogSize = TcpDelegatedState.SendBacklogUnsupported,
        ReceiveBacklogSize = 42,
    };

    [Fact]
    public void Delegated_state_has_value_equality_and_a_field_change_breaks_it()
    {
        var a = SampleDelegated();
        var b = SampleDelegated();
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());

        var copy = a with { };
        Assert.NotSame(a, copy);
        Assert.Equal(a, copy);

        copy.Retransmit = copy.Retransmit with { TimeoutDelta = TcpDelegatedState.TimerOff };
        Assert.NotEqual(a, copy);
        Assert.NotEqual(a, a with { SndMax = a.SndMax + 1 });
        Assert.NotEqual(a, a with { DWnd = 1 });
    }

    [Fact]
    public void Delegated_state_compares_buffer_lists_by_identity()
    {
        var nbl = new NetBufferList();
        var a = SampleDelegated();
        a.SendDataHead = nbl;
        a.SendDataTail = nbl;
        Assert.Equal(a, a with { });
        Assert.NotEqual(a, a with { SendDataHead = new NetBufferList() });
    }

    [Fact]
    public void New_delegated_state_has_both_timers_off()
    {
        var d = new TcpDelegatedState();
        Assert.Equal(-1, d.KeepAlive.TimeoutDelta);
        Assert.Equal(-1, d.Retransmit.TimeoutDelta);
        Assert.False(d.KeepAlive.IsRunning);
        Assert.False(d.Retransmit.IsRunning);
        Assert.True(new TcpRetransmitState(0, 0).IsRunning); // 0 = expire now, not off
    }

    [Fact]
    public void Const_and_cached_states_have_value_equality()
    {
        var c1 = new TcpConstState { Flags = TcpConstFlags.Timestamp | TcpConstFlags.Sack, RemotePort = 80, LocalPort = 50000, SndWindScale = 7, RcvWindScale = 14, RemoteMss = 1460, HashValue = 0xDEADBEEF };
        var c2 = c1 with { };
        Assert.Equal(c1, c2);
        Assert.NotEqual(c1, c1 with { RcvWindScale = 13 });

        var k1 = new TcpCachedState { Flags = TcpCachedFlags.KeepAliveEnabled | TcpCachedFlags.NaglingEnabled, InitialRcvWnd = 65535, KaProbeCount = 10, KaTimeout = 7_200_000, KaInterval = 1000, MaxRT = TcpCachedState.MaxRTUnlimited, FlowLabel = 0xF_FFFF, TtlOrHopLimit = 64, UserPriority = 7 };
        Assert.Equal(k1, k1 with { });
        Assert.NotEqual(k1, k1 with { MaxRT = 0 });

        var n1 = new NeighborConstState { DlSourceAddress = MacAddress.Parse("02:00:00:00:00:01"), VlanId = 4095 };
        Assert.Equal(n1, new NeighborConstState { DlSourceAddress = MacAddress.Parse("02:00:00:00:00:01"), VlanId = 4095 });
        Assert.NotEqual(n1, n1 with { VlanId = 1 });
        Assert.Equal(new NeighborCachedState { DlDestinationAddress = MacAddress.Broadcast, HostReachabilityDelta = 5 }, new NeighborCachedState { DlDestinationAddress = MacAddress.Broadcast, HostReachabilityDelta = 5 });
        Assert.NotEqual(new NeighborDelegatedState { NicReachabilityDelta = 1 }, new NeighborDelegatedState());
        Assert.Equal(new PathCachedState { PathMtu = 1500 }, new PathCachedState { PathMtu = 1500 });
        Assert.Equal(new PathDelegatedState(), default(PathDelegatedState));
    }

    [Fact]
    public void Bit_fields_reject_values_wider_than_their_width()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new NeighborConstState { VlanId = 4096 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new TcpConstState { SndWindScale = 15 });
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new TcpConstState { RcvWindScale = 15 });
        Assert.Equal("RcvWindScale", ex.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TcpCachedState { FlowLabel = 0x10_0000 });
        Assert.Throws<ArgumentOutOfRangeException>(() => new TcpCachedState { UserPriority = 8 });
    }

    [Fact]
    public void Path_addresses_compare_by_family_and_value()
    {
        IpAddressValue v4 = Ipv4Address.Parse("198.18.9.1");
        IpAddressValue v6 = Ipv6Address.Parse("::a00:1");
        Assert.False(v4.IsIpv6);
        Assert.True(v6.IsIpv6);
        Assert.NotEqual(v4, v6); // same low bits, different family
        Assert.Equal(4, v4.Length);
        Assert.Equal(16, v6.Length);
        Assert.Throws<InvalidOperationException>(() => v4.Ipv6);
        Assert.Throws<InvalidOperationException>(() => v6.Ipv4);

        Span<byte> bytes = stackalloc byte[16];
        v6.Write(bytes);
        Assert.Equal(v6, IpAddressValue.Read(bytes));
        v4.Write(bytes);
        Assert.Equal(v4, IpAddressValue.Read(bytes[..4]));
        Assert.Throws<ArgumentException>(() => IpAddressValue.Read(new byte[5]));

        var path = new PathConstState { SourceAddress = v4, DestinationAddress = Ipv4Address.Parse("198.18.9.2") };
        Assert.Null(path.Validate());
        Assert.False(path.IsIpv6);
        var mixed = path with { DestinationAddress = v6 };
        Assert.Contains("DestinationAddress", mixed.Validate());
    }

    [Theory]
    [InlineData(TcpState.Closed, false)]
    [InlineData(TcpState.Listen, false)]
    [InlineData(TcpState.SynSent, false)]
    [InlineData(TcpState.SynRcvd, false)]
    [InlineData(TcpState.Established, true)]
    [InlineData(TcpState.FinWait1, true)]
    [InlineData(TcpState.FinWait2, true)]
    [InlineData(TcpState.CloseWait, true)]
    [InlineData(TcpState.Closing, true)]
    [InlineData(TcpState.LastAck, true)]
    [InlineData(TcpState.TimeWait, false)]
    [InlineData((TcpState)11, false)]
    public void Only_synchronized_non_time_wait_states_are_offloadable(TcpState state, bool offloadable)
        => Assert.Equal(offloadable, state.IsOffloadable());

    [Fact]
    public void Enum_values_are_the_ndis_ones()
    {
        Assert.Equal(new[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, Enum.GetValues<TcpState>().Select(s => (int)s));
        Assert.Equal(new[] { "Closed", "Listen", "SynSent", "SynRcvd", "Established", "FinWait1", "FinWait2", "CloseWait", "Closing", "LastAck", "TimeWait" }, Enum.GetNames<TcpState>());
        Assert.Equal(0x01, (int)TcpConstFlags.Timestamp);
        Assert.Equal(0x02, (int)TcpConstFlags.Sack);
        Assert.Equal(0x04, (int)TcpConstFlags.WindowScaling);
        Assert.Equal(0x01, (int)TcpCachedFlags.KeepAliveEnabled);
        Assert.Equal(0x02, (int)TcpCachedFlags.NaglingEnabled);
        Assert.Equal(0x04, (int)TcpCachedFlags.KeepAliveRestart);
        Assert.Equal(0x08, (int)TcpCachedFlags.MaxRtRestart);
        Assert.Equal(0x10, (int)TcpCachedFlags.UpdateRcvWnd);
    }

    [Fact]
    public void ToString_is_readable_and_does_not_throw()
    {
        var d = SampleDelegated();
        d.SendDataHead = new NetBufferList();
        string text = d.ToString();
        Assert.Contains("SndUna = 4294967040", text);
        Assert.Contains("State = Established", text);
        Assert.Contains("TimeoutDelta = -1", new TcpDelegatedState().ToString());
        Assert.Contains("VlanId = 7", new NeighborConstState { VlanId = 7 }.ToString());
        Assert.Contains("02:00:00:00:00:01", new NeighborConstState { DlSourceAddress = MacAddress.Parse("02:00:00:00:00:01") }.ToString());
        Assert.Contains("198.18.9.1", new PathConstState { SourceAddress = Ipv4Address.Parse("198.18.9.1") }.ToString());
        Assert.Contains("PathMtu = 1500", new PathCachedState { PathMtu = 1500 }.ToString());
        Assert.NotEmpty(new PathDelegatedState().ToString());
        Assert.NotEmpty(new TcpConstState().ToString());
        Assert.NotEmpty(new TcpCachedState().ToString());
        Assert.NotEmpty(new NeighborCachedState().ToString());
        Assert.NotEmpty(new NeighborDelegatedState().ToString());
        Assert.NotEmpty(OffloadParameters.Default.ToString());
    }
}
