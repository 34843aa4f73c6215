using System.Globalization;
using OffloadEmu.Chimney.State;
using OffloadEmu.Control.Status;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace OffloadEmu.Cli.Status;

/// <summary>Spectre.Console renderings of a snapshot for humans: the daemon and link, the counters, and the
/// connections like `ss -ti`.</summary>
internal static class StatusView
{
    /// <summary>A console on <paramref name="stdout"/>: colours and live display only for a real terminal; a fixed wide
    /// layout otherwise (files, pipes, tests) so tables are not folded at 80 columns.</summary>
    public static IAnsiConsole Console(TextWriter stdout)
    {
        bool terminal = ReferenceEquals(stdout, System.Console.Out) && !System.Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!terminal) console.Profile.Width = 200;
        return console;
    }

    public static string Endpoint(IpAddressValue address, ushort port)
        => address.IsIpv6 ? $"[{address}]:{port}" : $"{address}:{port}";

    public static IRenderable Summary(string socket, StatusSnapshot s)
    {
        var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
        grid.AddRow("daemon", Markup.Escape($"offloademud {s.DaemonVersion} on {socket}, up {Uptime(s.Uptime)}"
            + (s.Status == Chimney.NdisStatus.Success ? "" : $" (status {Drive.DriveJson.StatusName(s.Status)})")));
        var l = s.Link;
        grid.AddRow("link", Markup.Escape($"{l.Kind} {l.Interface}, mac {l.MacAddress}, mtu {l.Mtu}"
            + (s.Status == Chimney.NdisStatus.MediaDisconnect ? " (link lost: the daemon is opening it again)" : "")));
        ulong drops = 0;
        var reasons = new List<string>();
        foreach (var d in l.Drops)
        {
            drops += d.Count;
            if (d.Count > 0) reasons.Add($"{StatsCounter.Snake(d.Reason)} {d.Count}");
        }
        grid.AddRow("frames", Markup.Escape($"in {l.FramesIn} ({Bytes(l.BytesIn)}), out {l.FramesOut} ({Bytes(l.BytesOut)}), "
            + $"dropped {drops}{(reasons.Count > 0 ? " (" + string.Join(", ", reasons) + ")" : "")}; target: {s.FramesUp} up to the hosts, {s.DroppedFrames} dropped"));
        if (s.SegmentationOffload is { Enabled: true } so)
        {
            // Link:SegmentationOffload: the GSO frames the TAP carried and what the target made of them.
            grid.AddRow("segments", Markup.Escape($"segmentation offload on: super-frames in {so.LinkSuperFramesIn} ({so.TargetSuperFramesIn} processed whole "
                + $"by the target), out {so.LinkSuperFramesOut} ({so.TargetSuperFramesOut} super-segments from the target)"));
        }
        if (s.Loops.Count > 0)
        {
            // Several engine loops (Nic:Queues > 1): one row each; nothing for one loop.
            string over = s.DeviceQueues > 1 ? $"{s.DeviceQueues} device queues, one each" : "one device queue, shared";
            grid.AddRow("loops", Markup.Escape($"{s.Loops.Count} engine loops over {over}; connections hashed to loops by their 4-tuple"));
            for (int i = 0; i < s.Loops.Count; i++)
            {
                var loop = s.Loops[i];
                grid.AddRow(Markup.Escape($"  loop {i}"), Markup.Escape($"{loop.Connections} connections, frames in {loop.FramesIn}, out {loop.FramesOut}, "
                    + $"handed off {loop.HandedOff} ({loop.HandOffDrops} dropped)"));
            }
        }
        var c = s.Capabilities;
        grid.AddRow("offload", Markup.Escape($"ipv4 {YesNo(c.SupportIPv4)}, ipv6 {YesNo(c.SupportIPv6)}, sack {YesNo(c.SupportSack)}, "
            + $"capacity {c.TcpConnectionOffloadCapacity}, {s.Parameters.TicksPerSecond} ticks/s, delayed ACK {s.Parameters.TcpDelayedAckTicks} ticks, "
            + $"max retransmissions {s.Parameters.TcpMaximumRetransmissions}"));
        string sessions = s.Sessions.Count == 0
            ? "none bound"
            : string.Join(", ", s.Sessions.Select(x => $"#{x.Id} '{x.Name}' ({x.Objects} objects)"));
        grid.AddRow("sessions", Markup.Escape($"{s.Sessions.Count}: {sessions}"));
        return grid;
    }

    public static Table Families(StatusSnapshot s)
    {
        var table = new Table().Border(TableBorder.Simple).Title("offload counters");
        table.AddColumn("");
        table.AddColumn(new TableColumn("IPv4").RightAligned());
        table.AddColumn(new TableColumn("IPv6").RightAligned());
        void Row(string name, ulong v4, ulong v6) => table.AddRow(name, Num(v4), Num(v6));
        Row("tcp established now", s.TcpIpv4.CurrentlyEstablished, s.TcpIpv6.CurrentlyEstablished);
        Row("tcp segments in", s.TcpIpv4.InSegments, s.TcpIpv6.InSegments);
        Row("tcp segments out", s.TcpIpv4.OutSegments, s.TcpIpv6.OutSegments);
        Row("tcp retransmitted", s.TcpIpv4.RetransmittedSegments, s.TcpIpv6.RetransmittedSegments);
        Row("tcp in errors", s.TcpIpv4.InErrors, s.TcpIpv6.InErrors);
        Row("tcp resets out", s.TcpIpv4.OutResets, s.TcpIpv6.OutResets);
        Row("tcp resets of established", s.TcpIpv4.ResetEstablished, s.TcpIpv6.ResetEstablished);
        Row("ip packets in", s.IpIpv4.InReceives, s.IpIpv6.InReceives);
        Row("ip octets in", s.IpIpv4.InOctets, s.IpIpv6.InOctets);
        Row("ip packets out", s.IpIpv4.OutRequests, s.IpIpv6.OutRequests);
        Row("ip octets out", s.IpIpv4.OutOctets, s.IpIpv6.OutOctets);
        Row("ip header errors", s.IpIpv4.InHeaderErrors, s.IpIpv6.InHeaderErrors);
        Row("ip discards in/out", s.IpIpv4.InDiscards + s.IpIpv4.OutDiscards, s.IpIpv6.InDiscards + s.IpIpv6.OutDiscards);
        return table;
    }

    /// <summary>The connections as `ss -ti` shows sockets: a line with state, endpoints and owner, then an indented line
    /// with the TCP variables.</summary>
    public static IRenderable Connections(StatusSnapshot s)
    {
        if (s.ConnectionsTotal == 0) return new Text("no offloaded connections");
        var rows = new List<IRenderable>
        {
            new Text($"offloaded connections: {s.ConnectionsTotal}" + (s.ConnectionsOmitted > 0 ? $" ({s.ConnectionsOmitted} not listed)" : "")),
        };
        foreach (var c in s.Connections)
        {
            string owner = c.SessionId == 0 ? $"context 0x{c.Context:x}"
                : $"session #{c.SessionId} '{StatusJson.SessionName(s, c.SessionId)}' handle {c.Handle} context 0x{c.Context:x}";
            rows.Add(new Text($"{c.State,-12} {Endpoint(c.LocalAddress, c.LocalPort),-22} {Endpoint(c.RemoteAddress, c.RemotePort),-22} {owner}"));
            rows.Add(new Padder(new Text(Details(c)), new Padding(4, 0, 0, 0)));
        }
        return new Rows(rows);
    }

    /// <summary>The `ss -ti`-like line of one connection.</summary>
    public static string Details(ConnectionStatus c)
        => $"snd_una {c.SndUna.Value} snd_nxt {c.SndNxt.Value} snd_max {c.SndMax.Value} rcv_nxt {c.RcvNxt.Value} "
            + $"snd_wnd {c.SndWnd} rcv_wnd {c.RcvWnd} cwnd {c.CWnd} ssthresh {c.SsThresh} rtt {Ms(c.SRtt)}/{Ms(c.RttVar)} ms rto {Ms(c.Rto)} ms "
            + $"mss {c.Mss} retrans {c.RetransmittedSegments}" + (c.RetransmitBackoff > 0 ? $" (backoff {c.RetransmitBackoff})" : "")
            + $" segs_in {c.InSegments} segs_out {c.OutSegments} send_q {c.SendQueued} rcv_q {c.ReceiveBuffered} backlog {c.SendBacklog}";

    /// <summary>The stats table; with a previous sample a rate column.</summary>
    public static Table Stats(List<StatsCounter> counters, List<StatsCounter>? previous, double seconds)
    {
        bool rates = previous is not null && previous.Count == counters.Count && seconds > 0;
        var table = new Table().Border(TableBorder.Simple);
        table.AddColumn("counter");
        table.AddColumn(new TableColumn("value").RightAligned());
        if (rates) table.AddColumn(new TableColumn("per second").RightAligned());
        for (int i = 0; i < counters.Count; i++)
        {
            var c = counters[i];
            // Drop reasons that never happened are left out of the table (the total is there; --json has them all).
            if (c.Value == 0 && c.Name.StartsWith("link.drops.", StringComparison.Ordinal)) continue;
            if (!rates)
            {
                table.AddRow(c.Name, Num(c.Value));
                continue;
            }
            string rate = c.IsGauge ? "" : StatusJson.Rate(c, previous![i], seconds).ToString("0.#", CultureInfo.InvariantCulture);
            table.AddRow(c.Name, Num(c.Value), rate);
        }
        return table;
    }

    private static string Num(ulong v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Num(uint v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture);

    private static string YesNo(bool b) => b ? "yes" : "no";

    public static string Uptime(TimeSpan t)
        => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m{t.Seconds:00}s" : t.TotalMinutes >= 1 ? $"{t.Minutes}m{t.Seconds:00}s"
            : $"{t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s";

    public static string Bytes(ulong b)
        => b >= 1UL << 30 ? $"{(b / (double)(1UL << 30)).ToString("0.0", CultureInfo.InvariantCulture)} GiB"
            : b >= 1UL << 20 ? $"{(b / (double)(1UL << 20)).ToString("0.0", CultureInfo.InvariantCulture)} MiB"
            : b >= 1UL << 10 ? $"{(b / 1024.0).ToString("0.0", CultureInfo.InvariantCulture)} KiB" : $"{b} B";
}
