using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Tcp;
using OffloadEmu.Wire;
using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Tests;

/// <summary>Seeded random instances of every message type, with random trees, states and NBL chains.</summary>
internal sealed class RandomMessages(int seed)
{
    private readonly Random _r = new(seed);

    public static readonly MessageType[] AllTypes = Enum.GetValues<MessageType>();

    public ControlMessage Make(MessageType type)
    {
        ControlMessage m = type switch
        {
            MessageType.Hello => new HelloMessage { Magic = U32(), Version = (ushort)_r.Next(65536), ClientName = Name(), Role = (ClientRole)_r.Next(2) },
            MessageType.SetParameters => new SetParametersMessage
            {
                Parameters = new OffloadParameters
                {
                    TicksPerSecond = U32(), TcpAckFrequency = U8(), TcpDelayedAckTicks = U8(), TcpMaximumRetransmissions = U8(),
                    TcpDoubtReachabilityRetransmissions = U8(), TcpSwsPreventionTicks = U32(), TcpDuplicateAckThreshold = U32(),
                    TcpPushTicks = U32(), NceStaleTicks = U32(),
                },
            },
            MessageType.QueryStatistics => new QueryStatisticsMessage { Ipv6 = Bool() },
            MessageType.ResetStatistics => new ResetStatisticsMessage { Ipv6 = Bool() },
            MessageType.SendFrame => new FrameMessage(MessageType.SendFrame) { Bytes = Bytes(1500) },
            MessageType.ReceiveFrame => new FrameMessage(MessageType.ReceiveFrame) { Bytes = Bytes(1500) },
            MessageType.InitiateOffload or MessageType.TerminateOffload or MessageType.UpdateOffload or MessageType.InvalidateOffload
                or MessageType.QueryOffloadState => new StateRequestMessage(type) { Root = Tree(withChains: true) },
            MessageType.TcpSend or MessageType.TcpForward => new IoRequestMessage(type) { Context = U64(), Chain = Chain(NblMode.Data) },
            MessageType.TcpReceive => new IoRequestMessage(type) { Context = U64(), Chain = Chain(NblMode.Post) },
            MessageType.TcpDisconnect => new IoRequestMessage(type)
            {
                Context = U64(), Flags = _r.Next(2) == 0 ? TcpDisconnectFlags.Graceful : TcpDisconnectFlags.Abortive, Chain = Nbl(NblMode.Data),
            },
            MessageType.ReceiveConsumed => new ReceiveConsumedMessage { Context = U64(), Bytes = U32() },
            MessageType.HelloReply => new HelloReplyMessage { Version = (ushort)_r.Next(65536), Current = Caps(), Hardware = Caps(), MacAddress = Mac(), Mtu = _r.Next() },
            MessageType.Error => new ErrorMessage { Code = (ProtocolError)_r.Next(1, 10), Text = Name() },
            MessageType.StatusReply => new StatusReplyMessage { Status = (NdisStatus)U32() },
            MessageType.StatisticsReply => new StatisticsReplyMessage
            {
                Tcp = new TcpOffloadStatisticsSnapshot(U64(), U64(), U64(), U64(), U64(), U64(), U64()),
                Ip = new IpOffloadStatisticsSnapshot(U64(), U64(), U64(), U64(), U64(), U64(), U64(), U64(), U64(), U64()),
            },
            MessageType.StateComplete => new StateCompleteMessage { Operation = (StateOperation)_r.Next(5), Root = Tree(withChains: true) },
            MessageType.TcpSendComplete or MessageType.TcpForwardComplete or MessageType.TcpDisconnectComplete
                => new IoCompleteMessage(type) { Nbls = [.. Enumerable.Range(0, _r.Next(1, 5)).Select(_ => Ref())] },
            MessageType.TcpReceiveComplete => new ReceiveCompleteMessage
            {
                Entries = [.. Enumerable.Range(0, _r.Next(1, 4)).Select(_ => new ReceiveCompletion { Context = U64(), Id = U64(), Status = (NdisStatus)U32(), Data = PooledBytes.CopyOf(Bytes(3000).Span) })],
            },
            MessageType.ReceiveIndicate => new ReceiveIndicateMessage { Handle = U64(), Data = PooledBytes.CopyOf(Bytes(70_000).Span) },
            MessageType.TcpEvent => new TcpEventMessage { Handle = U64(), EventType = (TcpOffloadEventType)_r.Next(1, 5), Info = U32() },
            MessageType.NeighborEvent => new NeighborEventMessage { Code = (NeighborEventCode)_r.Next(1, 3), Block = Block(OffloadBlockType.NeighborOffloadState) },
            MessageType.AdapterStatus => new AdapterStatusMessage { Status = (NdisStatus)U32(), Capabilities = Caps() },
            MessageType.QueryParameters => new QueryParametersMessage(),
            MessageType.ParametersReply => new ParametersReplyMessage
            {
                Parameters = new TargetParameters
                {
                    Status = (NdisStatus)U32(),
                    Parameters = new OffloadParameters
                    {
                        TicksPerSecond = U32(), TcpAckFrequency = U8(), TcpDelayedAckTicks = U8(), TcpMaximumRetransmissions = U8(),
                        TcpDoubtReachabilityRetransmissions = U8(), TcpSwsPreventionTicks = U32(), TcpDuplicateAckThreshold = U32(),
                        TcpPushTicks = U32(), NceStaleTicks = U32(),
                    },
                    MinRto = TimeSpan.FromMicroseconds(_r.NextInt64(0, 86_400_000_000)), MaxRto = TimeSpan.FromMicroseconds(_r.NextInt64(0, 86_400_000_000)),
                    FinWait2Timeout = TimeSpan.FromMicroseconds(_r.Next()), ChallengeAckInterval = TimeSpan.FromMicroseconds(_r.Next()),
                },
            },
            MessageType.QueryStatus => new QueryStatusMessage { MaxConnections = U32() },
            MessageType.StatusInfo => new StatusInfoMessage { Snapshot = Status() },
            MessageType.Fragment or MessageType.ServerFragment => new FragmentMessage(type)
            {
                InnerType = (MessageType)_r.Next(65536), TotalLength = U32(), Offset = U32(), Bytes = Bytes(3000),
            },
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
        m.RequestId = U64();
        return m;
    }

    /// <summary>A random status snapshot: every field random within what the wire carries.</summary>
    public Control.Status.StatusSnapshot Status()
    {
        var connections = Enumerable.Range(0, _r.Next(0, 6)).Select(_ => new Control.Status.ConnectionStatus
        {
            Context = U64(), Handle = U64(), SessionId = U64(), LocalAddress = Ip(Bool()), LocalPort = (ushort)_r.Next(65536),
            RemoteAddress = Ip(Bool()), RemotePort = (ushort)_r.Next(65536), State = (TcpState)_r.Next(11),
            SndUna = new SeqNumber(U32()), SndNxt = new SeqNumber(U32()), SndMax = new SeqNumber(U32()), RcvNxt = new SeqNumber(U32()),
            SndWnd = U32(), RcvWnd = U32(), CWnd = U32(), SsThresh = U32(),
            SRtt = TimeSpan.FromMicroseconds(_r.NextInt64(0, 86_400_000_000)), RttVar = TimeSpan.FromMicroseconds(_r.Next()),
            Rto = TimeSpan.FromMicroseconds(_r.Next()), Mss = _r.Next(), RetransmittedSegments = U64(), RetransmitBackoff = _r.Next(),
            InSegments = U64(), OutSegments = U64(), SendQueued = _r.NextInt64(), SendBacklog = U32(), ReceiveBuffered = _r.Next(),
        }).ToArray();
        return new Control.Status.StatusSnapshot
        {
            Status = (NdisStatus)U32(), DaemonVersion = Name(), Uptime = TimeSpan.FromMicroseconds(_r.NextInt64(0, 1L << 40)),
            TakenAt = DateTimeOffset.UnixEpoch.AddTicks(_r.NextInt64(0, 1L << 54) * 10),
            Link = new Control.Status.LinkStatus
            {
                Kind = Name(), Interface = Name(), MacAddress = Mac(), Mtu = _r.Next(), FramesIn = U64(), BytesIn = U64(), FramesOut = U64(),
                BytesOut = U64(), Drops = [.. Enumerable.Range(0, _r.Next(0, 8)).Select(_ => new Control.Status.LinkDropCount(Name(), U64()))],
            },
            Capabilities = Caps(),
            Parameters = new OffloadParameters
            {
                TicksPerSecond = U32(), TcpAckFrequency = U8(), TcpDelayedAckTicks = U8(), TcpMaximumRetransmissions = U8(),
                TcpDoubtReachabilityRetransmissions = U8(), TcpSwsPreventionTicks = U32(), TcpDuplicateAckThreshold = U32(),
                TcpPushTicks = U32(), NceStaleTicks = U32(),
            },
            FramesUp = U64(), DroppedFrames = U64(),
            TcpIpv4 = new TcpOffloadStatisticsSnapshot(U64(), U64(), U64(), U64(), U64(), U64(), U64()),
            TcpIpv6 = new TcpOffloadStatisticsSnapshot(U64(), U64(), U64(), U64(), U64(), U64(), U64()),
            IpIpv4 = new IpOffloadStatisticsSnapshot(U64(), U64(), U64(), U64(), U64(), U64(), U64(), U64(), U64(), U64()),
            IpIpv6 = new IpOffloadStatisticsSnapshot(U64(), U64(), U64(), U64(), U64(), U64(), U64(), U64(), U64(), U64()),
            Sessions = [.. Enumerable.Range(0, _r.Next(0, 4)).Select(_ => new Control.Status.SessionStatus(U64(), Name(), _r.Next()))],
            ConnectionsTotal = connections.Length + _r.Next(0, 3) * _r.Next(0, 1000),
            Connections = connections,
        };
    }

    private byte U8() => (byte)_r.Next(256);
    private uint U32() => (uint)_r.NextInt64(0, 1L << 32);
    private ulong U64() => (ulong)_r.NextInt64() ^ ((ulong)_r.Next(2) << 63);
    private bool Bool() => _r.Next(2) == 1;
    private MacAddress Mac() => MacAddress.FromUInt64((ulong)_r.NextInt64(0, 1L << 48));
    private string Name() => new([.. Enumerable.Range(0, _r.Next(0, 40)).Select(_ => (char)_r.Next(0x20, 0x7F))]);

    private ReadOnlyMemory<byte> Bytes(int max)
    {
        var b = new byte[_r.Next(0, max)];
        _r.NextBytes(b);
        return b;
    }

    private TcpConnectionOffloadCapabilities Caps() => new()
    {
        Encapsulation = (OffloadEncapsulation)U32(), SupportIPv4 = Bool(), SupportIPv6 = Bool(), SupportIPv6ExtensionHeaders = Bool(),
        SupportSack = Bool(), CongestionAlgorithm = (byte)_r.Next(16), TcpConnectionOffloadCapacity = U32(), Flags = U32(),
    };

    private NblRef Ref()
    {
        int n = _r.Next(1, 4);
        return new NblRef
        {
            Id = U64(), Status = (NdisStatus)U32(), BytesTransferred = _r.Next(),
            Advance = [.. Enumerable.Range(0, n).Select(_ => _r.Next(0, 100_000))],
            Remaining = [.. Enumerable.Range(0, n).Select(_ => _r.Next(0, 100_000))],
        };
    }

    public NetBufferList Nbl(NblMode mode)
    {
        int nbs = _r.Next(1, 4);
        var nbl = new NetBufferList(nbs, 3)
        {
            RequestId = U64(), Status = (NdisStatus)U32(), TcpOffloadBytesTransferred = _r.Next(),
            TcpReceiveBytesTransferred = mode is NblMode.Data or NblMode.Post ? _r.Next() : 0, TcpReceiveNoPush = Bool(),
        };
        for (int i = 0; i < nbs; i++)
        {
            var nb = nbl.AddBuffer();
            int segments = _r.Next(1, 4);
            for (int s = 0; s < segments; s++) nb.AddWritableSegment(Bytes(2000).ToArray());
            // A data window inside the segments, as a host with an advanced buffer has.
            int skip = nb.TotalLength == 0 ? 0 : _r.Next(0, nb.TotalLength / 2 + 1);
            nb.SetData(skip, _r.Next(0, nb.TotalLength - skip + 1));
        }
        return nbl;
    }

    private NetBufferList Chain(NblMode mode)
    {
        NetBufferList? head = null, tail = null;
        int n = _r.Next(1, 5);
        for (int i = 0; i < n; i++) NetBufferListChain.Append(ref head, ref tail, Nbl(mode));
        return head!;
    }

    private OffloadBlock Tree(bool withChains)
    {
        // Random shape: 1-3 neighbours, each with 0-3 paths, each with 0-3 TCP blocks; random roles and state.
        OffloadBlock? root = null, last = null;
        for (int i = 0, n = _r.Next(1, 4); i < n; i++)
        {
            var neighbor = Block(OffloadBlockType.NeighborOffloadState);
            for (int p = 0, pn = _r.Next(0, 4); p < pn; p++)
            {
                var path = Block(_r.Next(2) == 0 ? OffloadBlockType.Ip4OffloadState : OffloadBlockType.Ip6OffloadState);
                for (int t = 0, tn = _r.Next(0, 4); t < tn; t++)
                {
                    var tcp = Block((OffloadBlockType)_r.Next(13, 16) is var ty && _r.Next(2) == 0 ? ty : OffloadBlockType.TcpOffloadState);
                    if (withChains && tcp.TcpDelegated is { } d && _r.Next(2) == 0)
                    {
                        tcp.NetBufferListChain = Chain(NblMode.Data);
                        d.SendDataHead = tcp.NetBufferListChain;
                        d.SendDataTail = NetBufferListChain.GetLast(tcp.NetBufferListChain);
                    }
                    path.AddDependent(tcp);
                }
                neighbor.AddDependent(path);
            }
            if (root is null) root = neighbor;
            else last!.NextBlock = neighbor;
            last = neighbor;
        }
        return root!;
    }

    private OffloadBlock Block(OffloadBlockType type)
    {
        var b = new OffloadBlock(type)
        {
            Status = (NdisStatus)U32(), NdisOffloadHandle = U64(), PortNumber = U32(),
            MiniportOffloadContext = _r.Next(3) switch { 0 => null, 1 => new OffloadContextSlot(), _ => new OffloadContextSlot(U64() | 1) },
        };
        var classes = type.GetStateClasses();
        bool c = classes.HasFlag(OffloadStateClasses.Const), k = classes.HasFlag(OffloadStateClasses.Cached), d = classes.HasFlag(OffloadStateClasses.Delegated);
        switch (type.GetLayer())
        {
            case OffloadLayer.Neighbor:
                if (c) b.NeighborConst = new NeighborConstState { DlSourceAddress = Mac(), VlanId = (ushort)_r.Next(0x1000) };
                if (k) b.NeighborCached = new NeighborCachedState { DlDestinationAddress = Mac(), HostReachabilityDelta = U32() };
                if (d) b.NeighborDelegated = new NeighborDelegatedState { NicReachabilityDelta = U32() };
                break;
            case OffloadLayer.Path:
                bool v6 = type.IsIpv6Path();
                if (c) b.PathConst = new PathConstState { SourceAddress = Ip(v6), DestinationAddress = Ip(v6) };
                if (k) b.PathCached = new PathCachedState { PathMtu = U32() };
                if (d) b.PathDelegated = new PathDelegatedState();
                break;
            default:
                if (c)
                {
                    b.TcpConst = new TcpConstState
                    {
                        Flags = (TcpConstFlags)_r.Next(8), RemotePort = (ushort)_r.Next(65536), LocalPort = (ushort)_r.Next(65536),
                        SndWindScale = (byte)_r.Next(15), RcvWindScale = (byte)_r.Next(15), RemoteMss = (ushort)_r.Next(65536), HashValue = U32(),
                    };
                }
                if (k)
                {
                    b.TcpCached = new TcpCachedState
                    {
                        Flags = (TcpCachedFlags)_r.Next(32), InitialRcvWnd = U32(), RcvIndicationSize = U32(), KaProbeCount = U8(), KaTimeout = U32(),
                        KaInterval = U32(), MaxRT = U32(), FlowLabel = (uint)_r.Next(0x10_0000), TtlOrHopLimit = U8(), TosOrTrafficClass = U8(),
                        UserPriority = (byte)_r.Next(8),
                    };
                }
                if (d)
                {
                    b.TcpDelegated = new TcpDelegatedState
                    {
                        State = (TcpState)_r.Next(11), Flags = (ushort)_r.Next(65536), RcvNxt = new SeqNumber(U32()), RcvWnd = U32(),
                        SndUna = new SeqNumber(U32()), SndNxt = new SeqNumber(U32()), SndMax = new SeqNumber(U32()), SndWnd = U32(), MaxSndWnd = U32(),
                        SendWL1 = new SeqNumber(U32()), CWnd = U32(), SsThresh = U32(), SRtt = (ushort)_r.Next(65536), RttVar = (ushort)_r.Next(65536),
                        TsRecent = U32(), TsRecentAge = U32(), TsTime = U32(), TotalRT = U32(), DupAckCount = U8(), SndWndProbeCount = U8(),
                        KeepAlive = new TcpKeepAliveState(U8(), _r.Next(-1, int.MaxValue)), Retransmit = new TcpRetransmitState(U8(), _r.Next(-1, int.MaxValue)),
                        SendBacklogSize = U32(), ReceiveBacklogSize = U32(), DWnd = U32(),
                        BufferedData = _r.Next(3) == 0 ? Nbl(NblMode.Data) : null,
                    };
                }
                break;
        }
        return b;
    }

    private IpAddressValue Ip(bool v6)
    {
        var bytes = new byte[v6 ? 16 : 4];
        _r.NextBytes(bytes);
        return IpAddressValue.Read(bytes);
    }
}
