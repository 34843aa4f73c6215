using System.Buffers;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

/// <summary>Field encodings shared by the messages: state records, capabilities, NBLs and block trees
/// (docs/control.md). Decoders validate every value and throw <see cref="ControlProtocolException"/>.</summary>
internal static class WireCodec
{
    // ---- scalars ---------------------------------------------------------------------------------------------------

    public static void Mac(ref MessageWriter w, MacAddress mac) => w.U64(mac.ToUInt64());

    public static MacAddress Mac(ref MessageReader r)
    {
        ulong v = r.U64();
        if (v > 0xFFFF_FFFF_FFFFUL) throw MessageReader.Malformed("MAC address above 48 bits");
        return MacAddress.FromUInt64(v);
    }

    public static void Ip(ref MessageWriter w, IpAddressValue ip)
    {
        w.Bool(ip.IsIpv6);
        Span<byte> bytes = stackalloc byte[16];
        ip.Write(bytes);
        w.Raw(bytes[..ip.Length]);
    }

    public static IpAddressValue Ip(ref MessageReader r)
    {
        bool v6 = r.Bool();
        Span<byte> bytes = stackalloc byte[v6 ? 16 : 4];
        r.Raw(bytes);
        return IpAddressValue.Read(bytes);
    }

    public static NdisStatus Status(ref MessageReader r) => (NdisStatus)r.U32();

    // ---- capabilities, parameters, statistics ----------------------------------------------------------------------

    public static void Capabilities(ref MessageWriter w, TcpConnectionOffloadCapabilities c)
    {
        w.U32((uint)c.Encapsulation);
        w.Bool(c.SupportIPv4);
        w.Bool(c.SupportIPv6);
        w.Bool(c.SupportIPv6ExtensionHeaders);
        w.Bool(c.SupportSack);
        w.U8(c.CongestionAlgorithm);
        w.U32(c.TcpConnectionOffloadCapacity);
        w.U32(c.Flags);
    }

    public static TcpConnectionOffloadCapabilities Capabilities(ref MessageReader r)
    {
        var encapsulation = (OffloadEncapsulation)r.U32();
        bool v4 = r.Bool(), v6 = r.Bool(), ext = r.Bool(), sack = r.Bool();
        byte cong = r.U8();
        if (cong > TcpConnectionOffloadCapabilities.MaxCongestionAlgorithm) throw MessageReader.Malformed("congestion algorithm above 15");
        return new TcpConnectionOffloadCapabilities
        {
            Encapsulation = encapsulation, SupportIPv4 = v4, SupportIPv6 = v6, SupportIPv6ExtensionHeaders = ext, SupportSack = sack,
            CongestionAlgorithm = cong, TcpConnectionOffloadCapacity = r.U32(), Flags = r.U32(),
        };
    }

    public static void Parameters(ref MessageWriter w, OffloadParameters p)
    {
        w.U32(p.TicksPerSecond);
        w.U8(p.TcpAckFrequency);
        w.U8(p.TcpDelayedAckTicks);
        w.U8(p.TcpMaximumRetransmissions);
        w.U8(p.TcpDoubtReachabilityRetransmissions);
        w.U32(p.TcpSwsPreventionTicks);
        w.U32(p.TcpDuplicateAckThreshold);
        w.U32(p.TcpPushTicks);
        w.U32(p.NceStaleTicks);
    }

    public static OffloadParameters Parameters(ref MessageReader r) => new()
    {
        TicksPerSecond = r.U32(), TcpAckFrequency = r.U8(), TcpDelayedAckTicks = r.U8(), TcpMaximumRetransmissions = r.U8(),
        TcpDoubtReachabilityRetransmissions = r.U8(), TcpSwsPreventionTicks = r.U32(), TcpDuplicateAckThreshold = r.U32(),
        TcpPushTicks = r.U32(), NceStaleTicks = r.U32(),
    };

    public static void TcpStatistics(ref MessageWriter w, TcpOffloadStatisticsSnapshot s)
    {
        w.U64(s.InSegments); w.U64(s.OutSegments); w.U64(s.CurrentlyEstablished); w.U64(s.ResetEstablished);
        w.U64(s.RetransmittedSegments); w.U64(s.InErrors); w.U64(s.OutResets);
    }

    public static TcpOffloadStatisticsSnapshot TcpStatistics(ref MessageReader r)
        => new(r.U64(), r.U64(), r.U64(), r.U64(), r.U64(), r.U64(), r.U64());

    public static void IpStatistics(ref MessageWriter w, IpOffloadStatisticsSnapshot s)
    {
        w.U64(s.InReceives); w.U64(s.InOctets); w.U64(s.InDelivers); w.U64(s.OutRequests); w.U64(s.OutOctets);
        w.U64(s.InHeaderErrors); w.U64(s.InTruncatedPackets); w.U64(s.InDiscards); w.U64(s.OutDiscards); w.U64(s.OutNoRoutes);
    }

    public static IpOffloadStatisticsSnapshot IpStatistics(ref MessageReader r)
        => new(r.U64(), r.U64(), r.U64(), r.U64(), r.U64(), r.U64(), r.U64(), r.U64(), r.U64(), r.U64());

    // ---- NBLs ------------------------------------------------------------------------------------------------------

    /// <summary>Writes a chain: u32 count, then each NBL in <paramref name="mode"/>.</summary>
    public static void Chain(ref MessageWriter w, NetBufferList? head, NblMode mode, Func<NetBufferList, ulong>? ids = null)
    {
        w.U32((uint)NetBufferListChain.Count(head));
        for (var nbl = head; nbl is not null; nbl = nbl.Next) Nbl(ref w, nbl, mode, ids);
    }

    public static void Nbl(ref MessageWriter w, NetBufferList nbl, NblMode mode, Func<NetBufferList, ulong>? ids = null)
    {
        w.U64(ids is null ? nbl.RequestId : ids(nbl));
        w.U32((uint)nbl.Status);
        w.I32(nbl.TcpOffloadBytesTransferred);
        // A post travels as a shadow of its free space (its data window, spec §3): bytes the host pre-filled lie before
        // it and stay with the client; only their count goes along (it starts the target's push timer at once).
        w.I32(mode is NblMode.Data or NblMode.Post ? nbl.TcpReceiveBytesTransferred : 0);
        w.Bool(mode != NblMode.Ref && nbl.TcpReceiveNoPush);
        w.U32((uint)nbl.BufferCount);
        for (int i = 0; i < nbl.BufferCount; i++)
        {
            var nb = nbl[i];
            switch (mode)
            {
                case NblMode.Data:
                    w.U32((uint)nb.DataLength);
                    WriteNbData(ref w, nb);
                    break;
                case NblMode.Post:
                    w.U32((uint)nb.DataLength);
                    break;
                default:
                    // Server NBs start at offset 0 of the client's data window: the offset is how far it moved.
                    w.I32(nb.DataOffset);
                    w.I32(nb.DataLength);
                    break;
            }
        }
    }

    private static void WriteNbData(ref MessageWriter w, NetBuffer nb)
    {
        int skip = nb.DataOffset, left = nb.DataLength;
        for (int s = 0; s < nb.SegmentCount && left > 0; s++)
        {
            var seg = nb.GetSegment(s).Span;
            if (skip >= seg.Length)
            {
                skip -= seg.Length;
                continue;
            }
            var part = seg[skip..];
            skip = 0;
            if (part.Length > left) part = part[..left];
            w.Raw(part);
            left -= part.Length;
        }
    }

    /// <summary>Reads a data- or post-mode chain into new NBLs whose bytes live in one array per NBL rented from
    /// <see cref="ArrayPool{T}.Shared"/> and parked in <see cref="NetBufferList.ProtocolReserved"/>
    /// (<see cref="ReleaseRented"/> gives it back).</summary>
    public static NetBufferList? ReadChain(ref MessageReader r, NblMode mode, int maxCount = ControlProtocol.MaxChainLength)
    {
        int count = r.Count(maxCount, 25);
        NetBufferList? head = null, tail = null;
        try
        {
            for (int i = 0; i < count; i++) NetBufferListChain.Append(ref head, ref tail, ReadNbl(ref r, mode));
        }
        catch
        {
            ReleaseChain(head);
            throw;
        }
        return head;
    }

    public static NetBufferList ReadNbl(ref MessageReader r, NblMode mode)
    {
        ulong id = r.U64();
        var status = Status(ref r);
        int xfer = r.I32();
        int rcvXfer = r.I32();
        bool noPush = r.Bool();
        int nbs = r.Count(ControlProtocol.MaxBuffersPerList, 4);
        if (mode == NblMode.Ref) throw new InvalidOperationException("Ref NBLs decode with ReadRefs.");
        // Lengths come before the bytes of each NB; read them in a first pass over a copy of the reader position.
        var lengths = new int[nbs];
        long total = 0;
        var probe = r;
        for (int i = 0; i < nbs; i++)
        {
            uint len = probe.U32();
            if (len > int.MaxValue) throw MessageReader.Malformed("NB length");
            lengths[i] = (int)len;
            total += len;
            if (mode == NblMode.Data)
            {
                if (len > probe.Remaining) throw MessageReader.Malformed("NB data truncated");
                probe.Skip((int)len);
            }
        }
        if (total > ControlProtocol.DefaultMaxMessageSize * 4L) throw MessageReader.Malformed("NBL larger than 16 MiB");
        var array = ArrayPool<byte>.Shared.Rent((int)Math.Max(total, 1));
        var nbl = new NetBufferList(Math.Max(nbs, 1), 1)
        {
            RequestId = id, Status = status, TcpOffloadBytesTransferred = xfer, TcpReceiveBytesTransferred = rcvXfer,
            TcpReceiveNoPush = noPush, ProtocolReserved = new RentedBuffer(array),
        };
        int offset = 0;
        for (int i = 0; i < nbs; i++)
        {
            r.U32();
            var memory = array.AsMemory(offset, lengths[i]);
            if (mode == NblMode.Data) r.Raw(memory.Span);
            nbl.AddBuffer().AddWritableSegment(memory);
            offset += lengths[i];
        }
        return nbl;
    }

    public static List<NblRef> ReadRefs(ref MessageReader r)
    {
        int count = r.Count(ControlProtocol.MaxChainLength, 25);
        var list = new List<NblRef>(count);
        for (int i = 0; i < count; i++) list.Add(ReadRef(ref r));
        return list;
    }

    public static NblRef ReadRef(ref MessageReader r)
    {
        ulong id = r.U64();
        var status = Status(ref r);
        int xfer = r.I32();
        r.I32();
        r.Bool();
        int nbs = r.Count(ControlProtocol.MaxBuffersPerList, 8);
        var advance = new int[nbs];
        var remaining = new int[nbs];
        for (int i = 0; i < nbs; i++)
        {
            advance[i] = r.I32();
            remaining[i] = r.I32();
            if (advance[i] < 0 || remaining[i] < 0) throw MessageReader.Malformed("negative NB window");
        }
        return new NblRef { Id = id, Status = status, BytesTransferred = xfer, Advance = advance, Remaining = remaining };
    }

    public static void Ref(ref MessageWriter w, NblRef nbl)
    {
        w.U64(nbl.Id);
        w.U32((uint)nbl.Status);
        w.I32(nbl.BytesTransferred);
        w.I32(0);
        w.Bool(false);
        w.U32((uint)nbl.Advance.Length);
        for (int i = 0; i < nbl.Advance.Length; i++)
        {
            w.I32(nbl.Advance[i]);
            w.I32(nbl.Remaining[i]);
        }
    }

    /// <summary>Returns the rented array of an NBL decoded by <see cref="ReadNbl"/> (once).</summary>
    public static void ReleaseRented(NetBufferList nbl)
    {
        if (nbl.ProtocolReserved is RentedBuffer rented) rented.Release();
    }

    public static void ReleaseChain(NetBufferList? head)
    {
        for (var n = head; n is not null; n = n.Next) ReleaseRented(n);
    }

    // ---- state records ---------------------------------------------------------------------------------------------

    private const ushort HasNeighborConst = 1 << 0, HasNeighborCached = 1 << 1, HasNeighborDelegated = 1 << 2,
        HasPathConst = 1 << 3, HasPathCached = 1 << 4, HasPathDelegated = 1 << 5,
        HasTcpConst = 1 << 6, HasTcpCached = 1 << 7, HasTcpDelegated = 1 << 8, HasSlot = 1 << 9, HasChain = 1 << 10;
    private const ushort KnownBlockFlags = (1 << 11) - 1;

    public static void TcpDelegated(ref MessageWriter w, TcpDelegatedState d, int headIndex, int tailIndex, bool withBufferedData = true)
    {
        w.U8((byte)d.State); w.U16(d.Flags);
        w.U32(d.RcvNxt.Value); w.U32(d.RcvWnd); w.U32(d.SndUna.Value); w.U32(d.SndNxt.Value); w.U32(d.SndMax.Value);
        w.U32(d.SndWnd); w.U32(d.MaxSndWnd); w.U32(d.SendWL1.Value); w.U32(d.CWnd); w.U32(d.SsThresh);
        w.U16(d.SRtt); w.U16(d.RttVar); w.U32(d.TsRecent); w.U32(d.TsRecentAge); w.U32(d.TsTime); w.U32(d.TotalRT);
        w.U8(d.DupAckCount); w.U8(d.SndWndProbeCount);
        w.U8(d.KeepAlive.ProbeCount); w.I32(d.KeepAlive.TimeoutDelta);
        w.U8(d.Retransmit.Count); w.I32(d.Retransmit.TimeoutDelta);
        w.U32(d.SendBacklogSize); w.U32(d.ReceiveBacklogSize); w.U32(d.DWnd);
        // SendDataHead/Tail point into the block's chain (spec §5): sent as indexes, -1 = null.
        w.I32(headIndex);
        w.I32(tailIndex);
        var buffered = withBufferedData ? d.BufferedData : null;
        w.Bool(buffered is not null);
        if (buffered is not null)
        {
            // BufferedData always travels with its bytes, both ways (initiate gives the host's bytes to the target,
            // terminate returns the target's undelivered bytes).
            Chain(ref w, buffered, NblMode.Data);
        }
    }

    private static int IndexIn(NetBufferList? chain, NetBufferList? item)
    {
        if (item is null) return -1;
        int i = 0;
        for (var n = chain; n is not null; n = n.Next, i++)
            if (ReferenceEquals(n, item)) return i;
        return -2; // not in the chain: the receiver treats it as null (a head not in the chain is a host error)
    }

    public static TcpDelegatedState TcpDelegated(ref MessageReader r, out int headIndex, out int tailIndex)
    {
        byte state = r.U8();
        if (state > (byte)TcpState.TimeWait) throw MessageReader.Malformed($"TCP state {state}");
        var d = new TcpDelegatedState
        {
            State = (TcpState)state, Flags = r.U16(),
            RcvNxt = new SeqNumber(r.U32()), RcvWnd = r.U32(), SndUna = new SeqNumber(r.U32()), SndNxt = new SeqNumber(r.U32()),
            SndMax = new SeqNumber(r.U32()), SndWnd = r.U32(), MaxSndWnd = r.U32(), SendWL1 = new SeqNumber(r.U32()),
            CWnd = r.U32(), SsThresh = r.U32(), SRtt = r.U16(), RttVar = r.U16(), TsRecent = r.U32(), TsRecentAge = r.U32(),
            TsTime = r.U32(), TotalRT = r.U32(), DupAckCount = r.U8(), SndWndProbeCount = r.U8(),
            KeepAlive = new TcpKeepAliveState(r.U8(), r.I32()), Retransmit = new TcpRetransmitState(r.U8(), r.I32()),
            SendBacklogSize = r.U32(), ReceiveBacklogSize = r.U32(), DWnd = r.U32(),
        };
        headIndex = r.I32();
        tailIndex = r.I32();
        if (r.Bool())
        {
            d.BufferedData = ReadChain(ref r, NblMode.Data, 16) ?? throw MessageReader.Malformed("empty BufferedData flagged present");
        }
        return d;
    }

    // ---- block trees -----------------------------------------------------------------------------------------------

    /// <summary>
    /// Writes a tree as a flat list in <see cref="OffloadTree.Traverse"/> order (dependents before NextBlock), each
    /// block with its depth, so decoding needs no recursion. <paramref name="chainMode"/>: <see cref="NblMode.Data"/>
    /// in requests (outstanding sends at initiate), <see cref="NblMode.Ref"/> in completions (returned sends).
    /// <paramref name="withData"/> false leaves out every NBL chain, the delegated <c>SendDataHead</c>/<c>SendDataTail</c>
    /// (sent as -1) and <c>BufferedData</c>: a completion other than a terminate returns no NBL (spec §2), and after a
    /// successful initiate the target owns the chain and completes it on its own thread while the tree is encoded.
    /// </summary>
    public static void Tree(ref MessageWriter w, OffloadBlock root, NblMode chainMode, Func<NetBufferList, ulong>? ids = null, bool withData = true)
    {
        int count = 0;
        foreach (var _ in OffloadTree.Traverse(root)) count++;
        w.U32((uint)count);
        foreach (var visit in OffloadTree.Traverse(root)) Block(ref w, visit.Block, visit.Depth, chainMode, ids, withData);
    }

    private static void Block(ref MessageWriter w, OffloadBlock b, int depth, NblMode chainMode, Func<NetBufferList, ulong>? ids, bool withData)
    {
        ushort flags = 0;
        if (b.NeighborConst is not null) flags |= HasNeighborConst;
        if (b.NeighborCached is not null) flags |= HasNeighborCached;
        if (b.NeighborDelegated is not null) flags |= HasNeighborDelegated;
        if (b.PathConst is not null) flags |= HasPathConst;
        if (b.PathCached is not null) flags |= HasPathCached;
        if (b.PathDelegated is not null) flags |= HasPathDelegated;
        if (b.TcpConst is not null) flags |= HasTcpConst;
        if (b.TcpCached is not null) flags |= HasTcpCached;
        if (b.TcpDelegated is not null) flags |= HasTcpDelegated;
        if (b.MiniportOffloadContext is not null) flags |= HasSlot;
        // A decoded completion tree keeps its returned chain as references (Scratch) and the head/tail indexes
        // (MiniportReserved); it re-encodes to the same bytes.
        var chain = withData ? b.NetBufferListChain : null;
        var refs = withData && chainMode == NblMode.Ref && chain is null && b.Scratch is List<NblRef> { Count: > 0 } list ? list : null;
        if (chain is not null || refs is not null) flags |= HasChain;
        w.U8((byte)depth);
        w.U8((byte)b.Type);
        w.U16(flags);
        w.U32((uint)b.Status);
        w.U64(b.MiniportOffloadContext?.Context ?? 0);
        w.U64(b.NdisOffloadHandle);
        w.U32(b.PortNumber);
        if (b.NeighborConst is { } nc) { Mac(ref w, nc.DlSourceAddress); w.U16(nc.VlanId); }
        if (b.NeighborCached is { } nk) { Mac(ref w, nk.DlDestinationAddress); w.U32(nk.HostReachabilityDelta); }
        if (b.NeighborDelegated is { } nd) w.U32(nd.NicReachabilityDelta);
        if (b.PathConst is { } pc) { Ip(ref w, pc.SourceAddress); Ip(ref w, pc.DestinationAddress); }
        if (b.PathCached is { } pk) w.U32(pk.PathMtu);
        if (b.TcpConst is { } tc)
        {
            w.U16((ushort)tc.Flags); w.U16(tc.RemotePort); w.U16(tc.LocalPort); w.U8(tc.SndWindScale); w.U8(tc.RcvWindScale);
            w.U16(tc.RemoteMss); w.U32(tc.HashValue);
        }
        if (b.TcpCached is { } tk)
        {
            w.U16((ushort)tk.Flags); w.U32(tk.InitialRcvWnd); w.U32(tk.RcvIndicationSize); w.U8(tk.KaProbeCount);
            w.U32(tk.KaTimeout); w.U32(tk.KaInterval); w.U32(tk.MaxRT); w.U32(tk.FlowLabel); w.U8(tk.TtlOrHopLimit);
            w.U8(tk.TosOrTrafficClass); w.U8(tk.UserPriority);
        }
        if (b.TcpDelegated is { } td)
        {
            var (head, tail) = !withData ? (-1, -1)
                : chain is null && b.MiniportReserved is ValueTuple<int, int> t ? t
                : (IndexIn(chain, td.SendDataHead), IndexIn(chain, td.SendDataTail));
            TcpDelegated(ref w, td, head, tail, withData);
        }
        if (chain is not null)
        {
            Chain(ref w, chain, chainMode, ids);
        }
        else if (refs is not null)
        {
            w.U32((uint)refs.Count);
            foreach (var r in refs) Ref(ref w, r);
        }
    }

    /// <summary>Reads a tree written by <see cref="Tree"/>. In <see cref="NblMode.Ref"/> mode each block's returned
    /// chain is left in <see cref="OffloadBlock.Scratch"/> as a <see cref="List{NblRef}"/> (the decoded tree is a
    /// carrier only; the client applies it onto the host's own tree).</summary>
    public static OffloadBlock ReadTree(ref MessageReader r, NblMode chainMode)
    {
        int count = r.Count(ControlProtocol.MaxTreeBlocks, 24);
        if (count == 0) throw MessageReader.Malformed("empty tree");
        var lastAtDepth = new OffloadBlock?[ControlProtocol.MaxTreeDepth + 1];
        OffloadBlock? root = null;
        int previousDepth = -1;
        try
        {
            for (int i = 0; i < count; i++)
            {
                int depth = r.U8();
                if (depth > ControlProtocol.MaxTreeDepth) throw MessageReader.Malformed($"tree depth {depth}");
                if (i == 0 ? depth != 0 : depth > previousDepth + 1) throw MessageReader.Malformed("tree depths out of order");
                var block = ReadBlockBody(ref r, chainMode);
                if (i == 0)
                {
                    root = block;
                }
                else if (depth == previousDepth + 1)
                {
                    lastAtDepth[depth - 1]!.DependentBlockList = block;
                }
                else
                {
                    var sibling = lastAtDepth[depth] ?? throw MessageReader.Malformed("tree sibling without a predecessor");
                    sibling.NextBlock = block;
                }
                lastAtDepth[depth] = block;
                for (int d = depth + 1; d < lastAtDepth.Length; d++) lastAtDepth[d] = null;
                previousDepth = depth;
            }
        }
        catch
        {
            if (root is not null) ReleaseTree(root);
            throw;
        }
        return root!;
    }

    private static OffloadBlock ReadBlockBody(ref MessageReader r, NblMode chainMode)
    {
        byte type = r.U8();
        if (type is < 1 or > 17 or 16) throw MessageReader.Malformed($"block type {type}");
        ushort flags = r.U16();
        if ((flags & ~KnownBlockFlags) != 0) throw MessageReader.Malformed($"block flags 0x{flags:x}");
        var b = new OffloadBlock((OffloadBlockType)type) { Status = Status(ref r) };
        ulong context = r.U64();
        if ((flags & HasSlot) != 0) b.MiniportOffloadContext = new OffloadContextSlot(context);
        else if (context != 0) throw MessageReader.Malformed("context without a slot");
        b.NdisOffloadHandle = r.U64();
        b.PortNumber = r.U32();
        try
        {
            if ((flags & HasNeighborConst) != 0) b.NeighborConst = new NeighborConstState { DlSourceAddress = Mac(ref r), VlanId = r.U16() };
            if ((flags & HasNeighborCached) != 0) b.NeighborCached = new NeighborCachedState { DlDestinationAddress = Mac(ref r), HostReachabilityDelta = r.U32() };
            if ((flags & HasNeighborDelegated) != 0) b.NeighborDelegated = new NeighborDelegatedState { NicReachabilityDelta = r.U32() };
            if ((flags & HasPathConst) != 0)
            {
                var pc = new PathConstState { SourceAddress = Ip(ref r), DestinationAddress = Ip(ref r) };
                if (pc.Validate() is { } error) throw MessageReader.Malformed(error);
                b.PathConst = pc;
            }
            if ((flags & HasPathCached) != 0) b.PathCached = new PathCachedState { PathMtu = r.U32() };
            if ((flags & HasPathDelegated) != 0) b.PathDelegated = new PathDelegatedState();
            if ((flags & HasTcpConst) != 0)
            {
                b.TcpConst = new TcpConstState
                {
                    Flags = (TcpConstFlags)r.U16(), RemotePort = r.U16(), LocalPort = r.U16(), SndWindScale = r.U8(),
                    RcvWindScale = r.U8(), RemoteMss = r.U16(), HashValue = r.U32(),
                };
            }
            if ((flags & HasTcpCached) != 0)
            {
                b.TcpCached = new TcpCachedState
                {
                    Flags = (TcpCachedFlags)r.U16(), InitialRcvWnd = r.U32(), RcvIndicationSize = r.U32(), KaProbeCount = r.U8(),
                    KaTimeout = r.U32(), KaInterval = r.U32(), MaxRT = r.U32(), FlowLabel = r.U32(), TtlOrHopLimit = r.U8(),
                    TosOrTrafficClass = r.U8(), UserPriority = r.U8(),
                };
            }
            int head = -1, tail = -1;
            if ((flags & HasTcpDelegated) != 0) b.TcpDelegated = TcpDelegated(ref r, out head, out tail);
            if ((flags & HasChain) != 0)
            {
                if (chainMode == NblMode.Ref)
                {
                    b.Scratch = ReadRefs(ref r);
                }
                else
                {
                    b.NetBufferListChain = ReadChain(ref r, chainMode);
                    if (b.NetBufferListChain is null) throw MessageReader.Malformed("empty chain flagged present");
                }
            }
            if (b.TcpDelegated is { } d)
            {
                if (chainMode == NblMode.Ref)
                {
                    b.Scratch ??= new List<NblRef>();
                    b.MiniportReserved = (head, tail); // indexes into the returned chain, resolved by the client
                }
                else
                {
                    d.SendDataHead = At(b.NetBufferListChain, head);
                    d.SendDataTail = At(b.NetBufferListChain, tail);
                }
            }
        }
        catch (ArgumentException ex)
        {
            throw MessageReader.Malformed(ex.Message);
        }
        return b;
    }

    private static NetBufferList? At(NetBufferList? chain, int index)
    {
        if (index < 0) return null;
        var n = chain;
        for (int i = 0; i < index && n is not null; i++) n = n.Next;
        return n ?? throw MessageReader.Malformed("chain index out of range");
    }

    /// <summary>Returns every rented array a decoded tree holds (outstanding sends and BufferedData).</summary>
    public static void ReleaseTree(OffloadBlock root)
    {
        foreach (var visit in OffloadTree.Traverse(root))
        {
            ReleaseChain(visit.Block.NetBufferListChain);
            if (visit.Block.TcpDelegated?.BufferedData is { } buffered) ReleaseChain(buffered);
        }
    }
}
