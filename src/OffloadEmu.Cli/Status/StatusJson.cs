using System.Text.Json;
using OffloadEmu.Chimney;
using OffloadEmu.Cli.Drive;
using OffloadEmu.Control.Status;

namespace OffloadEmu.Cli.Status;

/// <summary>The `--json` forms of `status` (one object) and `stats` (one object per line). Keys are snake_case;
/// times in the names' units; sequence numbers as unsigned 32-bit integers.</summary>
internal static class StatusJson
{
    public static string Status(string socket, StatusSnapshot s)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("socket", socket);
            w.WriteString("status", DriveJson.StatusName(s.Status));
            w.WriteString("version", s.DaemonVersion);
            w.WriteNumber("uptime_s", Math.Round(s.Uptime.TotalSeconds, 3));
            w.WriteString("time", s.TakenAt.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            Link(w, s.Link, s.SegmentationOffload);
            w.WriteStartObject("target");
            w.WriteNumber("frames_up", s.FramesUp);
            w.WriteNumber("dropped_frames", s.DroppedFrames);
            if (s.SegmentationOffload is { Enabled: true } so)
            {
                // Link:SegmentationOffload: super-frames processed whole, super-segments emitted (absent when off).
                w.WriteNumber("super_frames_in", so.TargetSuperFramesIn);
                w.WriteNumber("super_frames_out", so.TargetSuperFramesOut);
            }
            if (s.Loops.Count > 0)
            {
                // Several engine loops (Nic:Queues > 1); absent for one loop, so single-queue output is unchanged.
                w.WriteNumber("device_queues", s.DeviceQueues);
                w.WriteStartArray("loops");
                for (int i = 0; i < s.Loops.Count; i++)
                {
                    var loop = s.Loops[i];
                    w.WriteStartObject();
                    w.WriteNumber("loop", i);
                    w.WriteNumber("connections", loop.Connections);
                    w.WriteNumber("frames_in", loop.FramesIn);
                    w.WriteNumber("frames_out", loop.FramesOut);
                    w.WriteNumber("handed_off", loop.HandedOff);
                    w.WriteNumber("hand_off_drops", loop.HandOffDrops);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
            Capabilities(w, s.Capabilities);
            Parameters(w, s.Parameters);
            w.WriteStartArray("sessions");
            foreach (var session in s.Sessions)
            {
                w.WriteStartObject();
                w.WriteNumber("id", session.Id);
                w.WriteString("name", session.Name);
                w.WriteNumber("objects", session.Objects);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("statistics");
            Family(w, "ipv4", s.TcpIpv4, s.IpIpv4);
            Family(w, "ipv6", s.TcpIpv6, s.IpIpv6);
            w.WriteEndObject();
            w.WriteNumber("connections_total", s.ConnectionsTotal);
            w.WriteNumber("connections_omitted", s.ConnectionsOmitted);
            w.WriteStartArray("connections");
            foreach (var c in s.Connections) Connection(w, c, s);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>One `stats --json` line: the counters, and with a previous sample the rates per second since it.</summary>
    public static string Stats(string socket, StatusSnapshot s, List<StatsCounter> counters, List<StatsCounter>? previous, double intervalSeconds)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("socket", socket);
            w.WriteString("time", s.TakenAt.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteNumber("uptime_s", Math.Round(s.Uptime.TotalSeconds, 3));
            w.WriteStartObject("counters");
            foreach (var c in counters) w.WriteNumber(c.Name, c.Value);
            w.WriteEndObject();
            if (previous is not null && previous.Count == counters.Count && intervalSeconds > 0)
            {
                w.WriteNumber("interval_s", Math.Round(intervalSeconds, 3));
                w.WriteStartObject("rates");
                for (int i = 0; i < counters.Count; i++)
                {
                    if (counters[i].IsGauge) continue;
                    w.WriteNumber(counters[i].Name, Math.Round(Rate(counters[i], previous[i], intervalSeconds), 3));
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Per second; a counter that went down (statistics reset, daemon restarted) counts from zero.</summary>
    public static double Rate(StatsCounter now, StatsCounter before, double seconds)
        => (now.Value >= before.Value ? now.Value - before.Value : now.Value) / seconds;

    private static void Link(Utf8JsonWriter w, LinkStatus l, SegmentationOffloadStatus? segmentation)
    {
        w.WriteStartObject("link");
        w.WriteString("kind", l.Kind);
        w.WriteString("interface", l.Interface);
        w.WriteString("mac", l.MacAddress.ToString());
        w.WriteNumber("mtu", l.Mtu);
        w.WriteNumber("frames_in", l.FramesIn);
        w.WriteNumber("bytes_in", l.BytesIn);
        w.WriteNumber("frames_out", l.FramesOut);
        w.WriteNumber("bytes_out", l.BytesOut);
        if (segmentation is { } so)
        {
            // Known from a protocol-version-4 daemon; the counters only in the mode.
            w.WriteBoolean("segmentation_offload", so.Enabled);
            if (so.Enabled)
            {
                w.WriteNumber("super_frames_in", so.LinkSuperFramesIn);
                w.WriteNumber("super_frames_out", so.LinkSuperFramesOut);
            }
        }
        w.WriteStartObject("drops");
        foreach (var d in l.Drops) w.WriteNumber(StatsCounter.Snake(d.Reason), d.Count);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void Capabilities(Utf8JsonWriter w, TcpConnectionOffloadCapabilities c)
    {
        w.WriteStartObject("capabilities");
        w.WriteBoolean("ipv4", c.SupportIPv4);
        w.WriteBoolean("ipv6", c.SupportIPv6);
        w.WriteBoolean("ipv6_extension_headers", c.SupportIPv6ExtensionHeaders);
        w.WriteBoolean("sack", c.SupportSack);
        w.WriteNumber("congestion_algorithm", c.CongestionAlgorithm);
        w.WriteNumber("capacity", c.TcpConnectionOffloadCapacity);
        w.WriteString("encapsulation", c.Encapsulation.ToString());
        w.WriteEndObject();
    }

    private static void Parameters(Utf8JsonWriter w, Chimney.State.OffloadParameters o)
    {
        w.WriteStartObject("parameters");
        w.WriteNumber("ticks_per_second", o.TicksPerSecond);
        w.WriteNumber("tcp_ack_frequency", o.TcpAckFrequency);
        w.WriteNumber("tcp_delayed_ack_ticks", o.TcpDelayedAckTicks);
        w.WriteNumber("tcp_maximum_retransmissions", o.TcpMaximumRetransmissions);
        w.WriteNumber("tcp_doubt_reachability_retransmissions", o.TcpDoubtReachabilityRetransmissions);
        w.WriteNumber("tcp_sws_prevention_ticks", o.TcpSwsPreventionTicks);
        w.WriteNumber("tcp_duplicate_ack_threshold", o.TcpDuplicateAckThreshold);
        w.WriteNumber("tcp_push_ticks", o.TcpPushTicks);
        w.WriteNumber("nce_stale_ticks", o.NceStaleTicks);
        w.WriteEndObject();
    }

    private static void Family(Utf8JsonWriter w, string name, TcpOffloadStatisticsSnapshot t, IpOffloadStatisticsSnapshot ip)
    {
        w.WriteStartObject(name);
        w.WriteStartObject("tcp");
        w.WriteNumber("in_segments", t.InSegments);
        w.WriteNumber("out_segments", t.OutSegments);
        w.WriteNumber("currently_established", t.CurrentlyEstablished);
        w.WriteNumber("reset_established", t.ResetEstablished);
        w.WriteNumber("retransmitted_segments", t.RetransmittedSegments);
        w.WriteNumber("in_errors", t.InErrors);
        w.WriteNumber("out_resets", t.OutResets);
        w.WriteEndObject();
        w.WriteStartObject("ip");
        w.WriteNumber("in_receives", ip.InReceives);
        w.WriteNumber("in_octets", ip.InOctets);
        w.WriteNumber("in_delivers", ip.InDelivers);
        w.WriteNumber("out_requests", ip.OutRequests);
        w.WriteNumber("out_octets", ip.OutOctets);
        w.WriteNumber("in_header_errors", ip.InHeaderErrors);
        w.WriteNumber("in_truncated_packets", ip.InTruncatedPackets);
        w.WriteNumber("in_discards", ip.InDiscards);
        w.WriteNumber("out_discards", ip.OutDiscards);
        w.WriteNumber("out_no_routes", ip.OutNoRoutes);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void Connection(Utf8JsonWriter w, ConnectionStatus c, StatusSnapshot s)
    {
        w.WriteStartObject();
        w.WriteNumber("context", c.Context);
        w.WriteNumber("handle", c.Handle);
        w.WriteNumber("session", c.SessionId);
        w.WriteString("session_name", SessionName(s, c.SessionId));
        w.WriteString("local", StatusView.Endpoint(c.LocalAddress, c.LocalPort));
        w.WriteString("remote", StatusView.Endpoint(c.RemoteAddress, c.RemotePort));
        w.WriteString("state", c.State.ToString());
        w.WriteNumber("snd_una", c.SndUna.Value);
        w.WriteNumber("snd_nxt", c.SndNxt.Value);
        w.WriteNumber("snd_max", c.SndMax.Value);
        w.WriteNumber("rcv_nxt", c.RcvNxt.Value);
        w.WriteNumber("snd_wnd", c.SndWnd);
        w.WriteNumber("rcv_wnd", c.RcvWnd);
        w.WriteNumber("cwnd", c.CWnd);
        w.WriteNumber("ssthresh", c.SsThresh);
        w.WriteNumber("srtt_ms", Math.Round(c.SRtt.TotalMilliseconds, 3));
        w.WriteNumber("rttvar_ms", Math.Round(c.RttVar.TotalMilliseconds, 3));
        w.WriteNumber("rto_ms", Math.Round(c.Rto.TotalMilliseconds, 3));
        w.WriteNumber("mss", c.Mss);
        w.WriteNumber("retransmits", c.RetransmittedSegments);
        w.WriteNumber("retransmit_backoff", c.RetransmitBackoff);
        w.WriteNumber("in_segments", c.InSegments);
        w.WriteNumber("out_segments", c.OutSegments);
        w.WriteNumber("send_queued", c.SendQueued);
        w.WriteNumber("send_backlog", c.SendBacklog);
        w.WriteNumber("receive_buffered", c.ReceiveBuffered);
        w.WriteEndObject();
    }

    public static string SessionName(StatusSnapshot s, ulong id)
    {
        foreach (var session in s.Sessions)
            if (session.Id == id) return session.Name;
        return "";
    }
}
