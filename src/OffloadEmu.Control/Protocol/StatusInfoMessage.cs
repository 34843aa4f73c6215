using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Control.Status;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

/// <summary>
/// The answer to <see cref="QueryStatusMessage"/>: a <see cref="StatusSnapshot"/> (docs/control.md gives the field
/// order). Bounded: at most <see cref="MaxConnections"/> connections (the total is carried, so a reader knows how many
/// were left out), <see cref="MaxSessions"/> sessions and <see cref="MaxDropReasons"/> drop reasons, about 150 bytes per
/// connection: well under the default message size.
/// </summary>
internal sealed class StatusInfoMessage : ControlMessage
{
    /// <summary>Most connections one reply lists.</summary>
    public const int MaxConnections = StatusSnapshot.MaxConnections;

    /// <summary>Most sessions one reply lists.</summary>
    public const int MaxSessions = 1024;

    /// <summary>Most drop reasons.</summary>
    public const int MaxDropReasons = 64;

    /// <summary>Most engine loops (the target's limit).</summary>
    public const int MaxLoops = 64;

    private const int MaxText = 256;
    private const ulong MaxMicroseconds = 100UL * 365 * 86_400_000_000; // a century: anything above is malformed

    private static readonly ulong MaxTakenAt = (ulong)(DateTimeOffset.MaxValue.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    public override MessageType Type => MessageType.StatusInfo;

    public required StatusSnapshot Snapshot { get; init; }

    /// <summary>Writes the engine-loop section at the end (sessions of protocol version 3 or later; a reader finds it by
    /// the bytes left after the connections).</summary>
    public bool IncludeLoops { get; init; }

    /// <summary>Writes the segmentation-offload section after the loops (sessions of protocol version 4 or later; only
    /// with <see cref="IncludeLoops"/>). A reader finds it by the bytes left after the loop section.</summary>
    public bool IncludeSuperFrames { get; init; }

    /// <summary>The segmentation-offload section's size: mode u8 and four u64 counters.</summary>
    internal const int SuperFrameSectionSize = 1 + 4 * 8;

    public override void WritePayload(ref MessageWriter w)
    {
        var s = Snapshot;
        w.U32((uint)s.Status);
        w.String(Clip(s.DaemonVersion));
        Time(ref w, s.Uptime);
        w.U64((ulong)Math.Max(0, (s.TakenAt.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10));
        var l = s.Link;
        w.String(Clip(l.Kind));
        w.String(Clip(l.Interface));
        WireCodec.Mac(ref w, l.MacAddress);
        w.I32(l.Mtu);
        w.U64(l.FramesIn); w.U64(l.BytesIn); w.U64(l.FramesOut); w.U64(l.BytesOut);
        int drops = Math.Min(l.Drops.Count, MaxDropReasons);
        w.U32((uint)drops);
        for (int i = 0; i < drops; i++)
        {
            w.String(Clip(l.Drops[i].Reason));
            w.U64(l.Drops[i].Count);
        }
        WireCodec.Capabilities(ref w, s.Capabilities);
        WireCodec.Parameters(ref w, s.Parameters);
        w.U64(s.FramesUp);
        w.U64(s.DroppedFrames);
        WireCodec.TcpStatistics(ref w, s.TcpIpv4);
        WireCodec.IpStatistics(ref w, s.IpIpv4);
        WireCodec.TcpStatistics(ref w, s.TcpIpv6);
        WireCodec.IpStatistics(ref w, s.IpIpv6);
        int sessions = Math.Min(s.Sessions.Count, MaxSessions);
        w.U32((uint)sessions);
        for (int i = 0; i < sessions; i++)
        {
            var session = s.Sessions[i];
            w.U64(session.Id);
            w.String(Clip(session.Name));
            w.U32((uint)Math.Max(0, session.Objects));
        }
        int count = Math.Min(s.Connections.Count, MaxConnections);
        w.U32((uint)Math.Max(s.ConnectionsTotal, count));
        w.U32((uint)count);
        for (int i = 0; i < count; i++) Connection(ref w, s.Connections[i]);
        if (!IncludeLoops) return;
        // Version 3: device queues u32, loop count u32, per loop connections u32 and four u64 counters.
        w.U32((uint)Math.Clamp(s.DeviceQueues, 0, MaxLoops));
        int loops = Math.Min(s.Loops.Count, MaxLoops);
        w.U32((uint)loops);
        for (int i = 0; i < loops; i++)
        {
            var loop = s.Loops[i];
            w.U32((uint)Math.Max(0, loop.Connections));
            w.U64(loop.FramesIn); w.U64(loop.FramesOut); w.U64(loop.HandedOff); w.U64(loop.HandOffDrops);
        }
        if (!IncludeSuperFrames) return;
        // Version 4: segmentation-offload mode u8 (1 = on), device super-frames in, out, target super-frames in, out (u64).
        var so = s.SegmentationOffload ?? default;
        w.U8(so.Enabled ? (byte)1 : (byte)0);
        w.U64(so.LinkSuperFramesIn); w.U64(so.LinkSuperFramesOut); w.U64(so.TargetSuperFramesIn); w.U64(so.TargetSuperFramesOut);
    }

    private static void Connection(ref MessageWriter w, ConnectionStatus c)
    {
        w.U64(c.Context); w.U64(c.Handle); w.U64(c.SessionId);
        WireCodec.Ip(ref w, c.LocalAddress); w.U16(c.LocalPort);
        WireCodec.Ip(ref w, c.RemoteAddress); w.U16(c.RemotePort);
        w.U8((byte)c.State);
        w.U32(c.SndUna.Value); w.U32(c.SndNxt.Value); w.U32(c.SndMax.Value); w.U32(c.RcvNxt.Value);
        w.U32(c.SndWnd); w.U32(c.RcvWnd); w.U32(c.CWnd); w.U32(c.SsThresh);
        Time(ref w, c.SRtt); Time(ref w, c.RttVar); Time(ref w, c.Rto);
        w.U32((uint)Math.Max(0, c.Mss));
        w.U64(c.RetransmittedSegments);
        w.U32((uint)Math.Max(0, c.RetransmitBackoff));
        w.U64(c.InSegments); w.U64(c.OutSegments);
        w.U64((ulong)Math.Max(0, c.SendQueued));
        w.U32(c.SendBacklog);
        w.U32((uint)Math.Max(0, c.ReceiveBuffered));
    }

    public static StatusInfoMessage Read(ref MessageReader r)
    {
        var status = WireCodec.Status(ref r);
        string version = r.String(MaxText);
        var uptime = Time(ref r);
        ulong takenUs = r.U64();
        if (takenUs > MaxTakenAt) throw MessageReader.Malformed("snapshot time out of range");
        var takenAt = DateTimeOffset.UnixEpoch.AddTicks((long)takenUs * 10);
        string kind = r.String(MaxText), name = r.String(MaxText);
        var mac = WireCodec.Mac(ref r);
        int mtu = r.I32();
        if (mtu < 0) throw MessageReader.Malformed("negative MTU");
        ulong framesIn = r.U64(), bytesIn = r.U64(), framesOut = r.U64(), bytesOut = r.U64();
        int dropCount = r.Count(MaxDropReasons, 10);
        var drops = new LinkDropCount[dropCount];
        for (int i = 0; i < dropCount; i++) drops[i] = new LinkDropCount(r.String(MaxText), r.U64());
        var link = new LinkStatus
        {
            Kind = kind, Interface = name, MacAddress = mac, Mtu = mtu, FramesIn = framesIn, BytesIn = bytesIn, FramesOut = framesOut,
            BytesOut = bytesOut, Drops = drops,
        };
        var capabilities = WireCodec.Capabilities(ref r);
        var parameters = WireCodec.Parameters(ref r);
        ulong framesUp = r.U64(), dropped = r.U64();
        var tcp4 = WireCodec.TcpStatistics(ref r);
        var ip4 = WireCodec.IpStatistics(ref r);
        var tcp6 = WireCodec.TcpStatistics(ref r);
        var ip6 = WireCodec.IpStatistics(ref r);
        int sessionCount = r.Count(MaxSessions, 14);
        var sessions = new SessionStatus[sessionCount];
        for (int i = 0; i < sessionCount; i++)
        {
            ulong id = r.U64();
            string sessionName = r.String(ControlProtocol.MaxNameBytes);
            uint objects = r.U32();
            if (objects > int.MaxValue) throw MessageReader.Malformed("session object count");
            sessions[i] = new SessionStatus(id, sessionName, (int)objects);
        }
        uint total = r.U32();
        int count = r.Count(MaxConnections, 100);
        if (total < (uint)count || total > int.MaxValue) throw MessageReader.Malformed("connection total below the connections listed");
        var connections = new ConnectionStatus[count];
        for (int i = 0; i < count; i++) connections[i] = Connection(ref r);
        // The engine-loop section (version 3) follows when bytes are left; an older server ends here.
        int deviceQueues = 0;
        LoopStatus[] loops = [];
        bool hasLoops = r.Remaining > 0;
        if (hasLoops)
        {
            uint queues = r.U32();
            if (queues > MaxLoops) throw MessageReader.Malformed($"{queues} device queues");
            deviceQueues = (int)queues;
            int loopCount = r.Count(MaxLoops, 36);
            loops = new LoopStatus[loopCount];
            for (int i = 0; i < loopCount; i++)
                loops[i] = new LoopStatus(NonNegative(r.U32(), "loop connections"), r.U64(), r.U64(), r.U64(), r.U64());
        }
        // The segmentation-offload section (version 4) follows the loops when bytes are still left.
        SegmentationOffloadStatus? segmentation = null;
        bool hasSuperFrames = hasLoops && r.Remaining > 0;
        if (hasSuperFrames)
        {
            byte mode = r.U8();
            if (mode > 1) throw MessageReader.Malformed($"segmentation-offload mode {mode}");
            segmentation = new SegmentationOffloadStatus(mode == 1, r.U64(), r.U64(), r.U64(), r.U64());
        }
        return new StatusInfoMessage
        {
            IncludeLoops = hasLoops,
            IncludeSuperFrames = hasSuperFrames,
            Snapshot = new StatusSnapshot
            {
                Status = status, DaemonVersion = version, Uptime = uptime, TakenAt = takenAt, Link = link, Capabilities = capabilities,
                Parameters = parameters, FramesUp = framesUp, DroppedFrames = dropped, TcpIpv4 = tcp4, IpIpv4 = ip4, TcpIpv6 = tcp6,
                IpIpv6 = ip6, Sessions = sessions, ConnectionsTotal = (int)total, Connections = connections, DeviceQueues = deviceQueues,
                Loops = loops, SegmentationOffload = segmentation,
            },
        };
    }

    private static ConnectionStatus Connection(ref MessageReader r)
    {
        ulong context = r.U64(), handle = r.U64(), session = r.U64();
        var local = WireCodec.Ip(ref r);
        ushort localPort = r.U16();
        var remote = WireCodec.Ip(ref r);
        ushort remotePort = r.U16();
        byte state = r.U8();
        if (state > (byte)TcpState.TimeWait) throw MessageReader.Malformed($"TCP state {state}");
        var c = new ConnectionStatus
        {
            Context = context, Handle = handle, SessionId = session, LocalAddress = local, LocalPort = localPort, RemoteAddress = remote,
            RemotePort = remotePort, State = (TcpState)state,
            SndUna = new SeqNumber(r.U32()), SndNxt = new SeqNumber(r.U32()), SndMax = new SeqNumber(r.U32()), RcvNxt = new SeqNumber(r.U32()),
            SndWnd = r.U32(), RcvWnd = r.U32(), CWnd = r.U32(), SsThresh = r.U32(),
            SRtt = Time(ref r), RttVar = Time(ref r), Rto = Time(ref r),
            Mss = NonNegative(r.U32(), "MSS"), RetransmittedSegments = r.U64(), RetransmitBackoff = NonNegative(r.U32(), "backoff"),
            InSegments = r.U64(), OutSegments = r.U64(), SendQueued = SendQueued(r.U64()), SendBacklog = r.U32(), ReceiveBuffered = NonNegative(r.U32(), "receive buffered"),
        };
        return c;
    }

    private static long SendQueued(ulong v) => v <= long.MaxValue ? (long)v : throw MessageReader.Malformed("send queue above 2^63");

    private static int NonNegative(uint v, string what) => v <= int.MaxValue ? (int)v : throw MessageReader.Malformed($"{what} above 2^31");

    private static string Clip(string s)
    {
        if (System.Text.Encoding.UTF8.GetByteCount(s) <= MaxText) return s;
        // Cut at a character boundary that fits (names are short; this only guards the reader's limit).
        int n = Math.Min(s.Length, MaxText);
        while (n > 0 && System.Text.Encoding.UTF8.GetByteCount(s.AsSpan(0, n)) > MaxText) n--;
        if (n > 0 && char.IsHighSurrogate(s[n - 1])) n--;
        return s[..n];
    }

    private static void Time(ref MessageWriter w, TimeSpan t) => w.U64((ulong)Math.Clamp(t.Ticks / 10, 0, (long)MaxMicroseconds));

    private static TimeSpan Time(ref MessageReader r)
    {
        ulong us = r.U64();
        if (us > MaxMicroseconds) throw MessageReader.Malformed("time above a century");
        return TimeSpan.FromTicks((long)us * 10);
    }
}
