using System.Text.Json;
using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Control;

namespace OffloadEmu.Cli.Drive;

/// <summary>How the drive writes state objects into events (snake_case chimney names, sequence numbers as unsigned
/// 32-bit integers, statuses as their NDIS names).</summary>
internal static class DriveJson
{
    public static string StatusName(NdisStatus status)
    {
        string name = status.ToString();
        return char.IsDigit(name[0]) ? $"0x{(uint)status:x8}" : ToSnakeUpper(name);
    }

    private static string ToSnakeUpper(string pascal)
    {
        var sb = new System.Text.StringBuilder(pascal.Length + 8);
        for (int i = 0; i < pascal.Length; i++)
        {
            if (i > 0 && char.IsUpper(pascal[i]) && !char.IsUpper(pascal[i - 1])) sb.Append('_');
            sb.Append(char.ToUpperInvariant(pascal[i]));
        }
        return sb.ToString();
    }

    public static void Delegated(Utf8JsonWriter w, string name, TcpDelegatedState d)
    {
        w.WriteStartObject(name);
        w.WriteString("state", d.State.ToString());
        w.WriteNumber("snd_una", d.SndUna.Value);
        w.WriteNumber("snd_nxt", d.SndNxt.Value);
        w.WriteNumber("snd_max", d.SndMax.Value);
        w.WriteNumber("snd_wnd", d.SndWnd);
        w.WriteNumber("max_snd_wnd", d.MaxSndWnd);
        w.WriteNumber("send_wl1", d.SendWL1.Value);
        w.WriteNumber("rcv_nxt", d.RcvNxt.Value);
        w.WriteNumber("rcv_wnd", d.RcvWnd);
        w.WriteNumber("cwnd", d.CWnd);
        w.WriteNumber("ssthresh", d.SsThresh);
        w.WriteNumber("srtt", d.SRtt);
        w.WriteNumber("rttvar", d.RttVar);
        w.WriteNumber("ts_recent", d.TsRecent);
        w.WriteNumber("ts_recent_age", d.TsRecentAge);
        w.WriteNumber("ts_time", d.TsTime);
        w.WriteNumber("total_rt", d.TotalRT);
        w.WriteNumber("dup_ack_count", d.DupAckCount);
        w.WriteNumber("snd_wnd_probe_count", d.SndWndProbeCount);
        w.WriteNumber("send_backlog_size", d.SendBacklogSize);
        w.WriteNumber("receive_backlog_size", d.ReceiveBacklogSize);
        w.WriteNumber("dwnd", d.DWnd);
        w.WriteEndObject();
    }

    public static void Capabilities(Utf8JsonWriter w, string name, TcpConnectionOffloadCapabilities c)
    {
        w.WriteStartObject(name);
        w.WriteBoolean("ipv4", c.SupportIPv4);
        w.WriteBoolean("ipv6", c.SupportIPv6);
        w.WriteBoolean("sack", c.SupportSack);
        w.WriteNumber("congestion_algorithm", c.CongestionAlgorithm);
        w.WriteNumber("capacity", c.TcpConnectionOffloadCapacity);
        w.WriteEndObject();
    }

    public static void Parameters(Utf8JsonWriter w, TargetParameters p)
    {
        w.WriteString("status", StatusName(p.Status));
        var o = p.Parameters;
        w.WriteNumber("ticks_per_second", o.TicksPerSecond);
        w.WriteNumber("tick_ms", 1000.0 / Math.Max(o.TicksPerSecond, 1));
        w.WriteNumber("min_rto_ms", p.MinRto.TotalMilliseconds);
        w.WriteNumber("max_rto_ms", p.MaxRto.TotalMilliseconds);
        w.WriteNumber("fin_wait_2_ms", p.FinWait2Timeout.TotalMilliseconds);
        w.WriteNumber("challenge_ack_interval_ms", p.ChallengeAckInterval.TotalMilliseconds);
        w.WriteStartObject("offload");
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

    /// <summary>The statuses of a completed tree, one per block, in traversal order.</summary>
    public static void Statuses(Utf8JsonWriter w, OffloadBlock root)
    {
        w.WriteStartArray("blocks");
        Walk(w, root);
        w.WriteEndArray();

        static void Walk(Utf8JsonWriter w, OffloadBlock? b)
        {
            for (; b is not null; b = b.NextBlock)
            {
                w.WriteStartObject();
                w.WriteString("type", b.Type.ToString());
                w.WriteString("status", StatusName(b.Status));
                w.WriteEndObject();
                Walk(w, b.DependentBlockList);
            }
        }
    }
}
