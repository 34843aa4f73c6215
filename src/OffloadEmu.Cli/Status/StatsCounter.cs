using OffloadEmu.Chimney;
using OffloadEmu.Control.Status;

namespace OffloadEmu.Cli.Status;

/// <summary>One figure of `offloademu stats`: a monotonic counter (has a rate) or a gauge (does not).</summary>
internal readonly record struct StatsCounter(string Name, ulong Value, bool IsGauge)
{
    /// <summary>The counters of a snapshot, in the order they are shown; names are the JSON keys.</summary>
    public static List<StatsCounter> From(StatusSnapshot s)
    {
        var l = s.Link;
        ulong drops = 0;
        foreach (var d in l.Drops) drops += d.Count;
        var list = new List<StatsCounter>(48)
        {
            new("connections", (ulong)s.ConnectionsTotal, true),
            new("sessions", (ulong)s.Sessions.Count, true),
            new("link.frames_in", l.FramesIn, false),
            new("link.bytes_in", l.BytesIn, false),
            new("link.frames_out", l.FramesOut, false),
            new("link.bytes_out", l.BytesOut, false),
            new("link.drops", drops, false),
        };
        foreach (var d in l.Drops) list.Add(new("link.drops." + Snake(d.Reason), d.Count, false));
        if (s.SegmentationOffload is { Enabled: true } so)
        {
            list.Add(new("link.super_frames_in", so.LinkSuperFramesIn, false));
            list.Add(new("link.super_frames_out", so.LinkSuperFramesOut, false));
        }
        list.Add(new("target.frames_up", s.FramesUp, false));
        list.Add(new("target.dropped_frames", s.DroppedFrames, false));
        if (s.SegmentationOffload is { Enabled: true } target)
        {
            list.Add(new("target.super_frames_in", target.TargetSuperFramesIn, false));
            list.Add(new("target.super_frames_out", target.TargetSuperFramesOut, false));
        }
        Family(list, "ipv4", s.TcpIpv4, s.IpIpv4);
        Family(list, "ipv6", s.TcpIpv6, s.IpIpv6);
        // Several engine loops (Nic:Queues > 1): each loop's counters, after everything a single-loop daemon shows.
        for (int i = 0; i < s.Loops.Count; i++)
        {
            var loop = s.Loops[i];
            list.Add(new($"loop{i}.connections", (ulong)loop.Connections, true));
            list.Add(new($"loop{i}.frames_in", loop.FramesIn, false));
            list.Add(new($"loop{i}.frames_out", loop.FramesOut, false));
            list.Add(new($"loop{i}.handed_off", loop.HandedOff, false));
            list.Add(new($"loop{i}.hand_off_drops", loop.HandOffDrops, false));
        }
        return list;
    }

    private static void Family(List<StatsCounter> list, string family, TcpOffloadStatisticsSnapshot t, IpOffloadStatisticsSnapshot ip)
    {
        list.Add(new($"{family}.tcp.currently_established", t.CurrentlyEstablished, true));
        list.Add(new($"{family}.tcp.in_segments", t.InSegments, false));
        list.Add(new($"{family}.tcp.out_segments", t.OutSegments, false));
        list.Add(new($"{family}.tcp.retransmitted_segments", t.RetransmittedSegments, false));
        list.Add(new($"{family}.tcp.in_errors", t.InErrors, false));
        list.Add(new($"{family}.tcp.out_resets", t.OutResets, false));
        list.Add(new($"{family}.tcp.reset_established", t.ResetEstablished, false));
        list.Add(new($"{family}.ip.in_receives", ip.InReceives, false));
        list.Add(new($"{family}.ip.in_octets", ip.InOctets, false));
        list.Add(new($"{family}.ip.in_delivers", ip.InDelivers, false));
        list.Add(new($"{family}.ip.out_requests", ip.OutRequests, false));
        list.Add(new($"{family}.ip.out_octets", ip.OutOctets, false));
        list.Add(new($"{family}.ip.in_header_errors", ip.InHeaderErrors, false));
        list.Add(new($"{family}.ip.in_truncated_packets", ip.InTruncatedPackets, false));
        list.Add(new($"{family}.ip.in_discards", ip.InDiscards, false));
        list.Add(new($"{family}.ip.out_discards", ip.OutDiscards, false));
        list.Add(new($"{family}.ip.out_no_routes", ip.OutNoRoutes, false));
    }

    /// <summary>"QueueFull" → "queue_full".</summary>
    public static string Snake(string pascal)
    {
        var sb = new System.Text.StringBuilder(pascal.Length + 4);
        for (int i = 0; i < pascal.Length; i++)
        {
            char c = pascal[i];
            if (char.IsUpper(c) && i > 0) sb.Append('_');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }
}
