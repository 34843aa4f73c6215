using System.Text.Json;
using OffloadEmu.Chimney.State;
using OffloadEmu.Cli.Session;
using OffloadEmu.Wire;

namespace OffloadEmu.Cli.Drive;

/// <summary>
/// Reads one request line: JSON object, an <c>id</c> (integer or string), a known <c>op</c>, and every field that op
/// needs, of the right kind and range. Anything wrong is a <see cref="DriveRequestException"/> with one line saying
/// what; <see cref="TryReadId"/> gives the id to echo when the line got that far.
/// </summary>
internal static class DriveRequestParser
{
    /// <summary>Longest request line accepted (a 1 MiB send in base64 fits).</summary>
    public const int MaxLineLength = 2 * 1024 * 1024;

    /// <summary>Every op and its field checks, in the order docs/drive.md lists them.</summary>
    public static readonly IReadOnlyDictionary<string, Action<DriveRequest>> Ops = new Dictionary<string, Action<DriveRequest>>(StringComparer.Ordinal)
    {
        ["bind"] = r =>
        {
            if (r.Has("local")) Prefix(r);
            if (r.Has("gateway")) r.Ipv4("gateway");
            r.Flag("frames", false);
        },
        ["parameters"] = _ => { },
        ["connect"] = r => HostPort(r),
        ["listen"] = r => r.Port("port"),
        ["accept"] = r => r.Port("port"),
        ["offload"] = r => Offload(r),
        ["send"] = r =>
        {
            _ = r.Conn;
            r.Data();
        },
        ["forward"] = r =>
        {
            _ = r.Conn;
            if (r.Data().Length < 20) throw new DriveRequestException("'forward' takes a whole TCP segment, header first (at least 20 bytes)");
        },
        ["post_receive"] = r =>
        {
            _ = r.Conn;
            r.Integer("size", 0, MaxPostSize);
            r.Flag("push", true);
        },
        ["read"] = r =>
        {
            _ = r.Conn;
            r.Integer("max", 1, DriveRequest.MaxSendBytes, DriveRequest.MaxSendBytes);
        },
        ["update"] = r =>
        {
            _ = r.Conn;
            Cached(r.Object("cached", required: true), default);
        },
        ["invalidate"] = r => _ = r.Conn,
        ["query"] = r => _ = r.Conn,
        ["terminate"] = r => _ = r.Conn,
        ["disconnect"] = r =>
        {
            _ = r.Conn;
            Abortive(r);
        },
        ["quit"] = _ => { },
    };

    /// <summary>Largest receive post.</summary>
    public const int MaxPostSize = 4 * 1024 * 1024;

    /// <summary>Parses and checks one line.</summary>
    /// <exception cref="DriveRequestException">Anything wrong with it.</exception>
    public static DriveRequest Parse(string line)
    {
        if (line.Length > MaxLineLength) throw new DriveRequestException($"request line of {line.Length} characters above the limit of {MaxLineLength}");
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(line, new JsonDocumentOptions { MaxDepth = 8 });
            root = doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new DriveRequestException($"malformed JSON: {ex.Message}");
        }
        if (root.ValueKind != JsonValueKind.Object) throw new DriveRequestException("a request is a JSON object: {\"id\":1,\"op\":\"...\"}");
        string id = ReadId(root) ?? throw new DriveRequestException("'id' is required (an integer or a string)");
        if (!root.TryGetProperty("op", out var opElement) || opElement.ValueKind != JsonValueKind.String)
            throw new DriveRequestException("'op' is required (a string)");
        string op = opElement.GetString()!;
        if (!Ops.TryGetValue(op, out var check)) throw new DriveRequestException($"unknown op '{op}'; known: {string.Join(", ", Ops.Keys)}");
        var request = new DriveRequest(op, id, root);
        check(request);
        return request;
    }

    /// <summary>The id of a line to echo in its error event, when the line is a JSON object with a usable id.</summary>
    public static string? TryReadId(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.ValueKind == JsonValueKind.Object ? ReadId(doc.RootElement) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? ReadId(JsonElement root)
    {
        if (!root.TryGetProperty("id", out var id)) return null;
        return id.ValueKind switch
        {
            JsonValueKind.Number when id.TryGetInt64(out _) => id.GetRawText(),
            JsonValueKind.String => JsonSerializer.Serialize(id.GetString()),
            _ => null,
        };
    }

    public static (Ipv4Address Address, int PrefixLength) Prefix(DriveRequest r)
    {
        string text = r.Text("local");
        return AddressParser.TryParsePrefix(text, out var a, out int p, out string error) ? (a, p) : throw new DriveRequestException($"'local' {error}");
    }

    public static (Ipv4Address Host, ushort Port) HostPort(DriveRequest r)
    {
        string text = r.Text("remote");
        return AddressParser.TryParseHostPort(text, out var h, out ushort p, out string error) ? (h, p) : throw new DriveRequestException($"'remote' {error}");
    }

    /// <summary>True for <c>"mode":"abortive"</c>, false for <c>"graceful"</c> (the default).</summary>
    public static bool Abortive(DriveRequest r) => r.Text("mode", "graceful") switch
    {
        "graceful" => false,
        "abortive" => true,
        var other => throw new DriveRequestException($"'mode' '{other}': expected graceful or abortive"),
    };

    /// <summary>The synthetic offload's state: every value as given, defaults only where docs/drive.md names them.</summary>
    public static SyntheticSpec Offload(DriveRequest r)
    {
        var remote = r.Ipv4("remote_ip");
        var mac = r.Mac("remote_mac");
        Ipv4Address? local = r.Has("local_ip") ? r.Ipv4("local_ip") : null;
        uint? mtu = r.Has("path_mtu") ? (uint)r.Integer("path_mtu", 576, 65535) : null;
        var c = r.Object("const", required: true);
        const string cp = "const.";
        byte sndScale = (byte)DriveRequest.Integer(c, "snd_wind_scale", 0, TcpConstState.MaxWindScale, 0, cp);
        byte rcvScale = (byte)DriveRequest.Integer(c, "rcv_wind_scale", 0, TcpConstState.MaxWindScale, 0, cp);
        var flags = TcpConstFlags.None;
        if (DriveRequest.Flag(c, "timestamps", false, cp)) flags |= TcpConstFlags.Timestamp;
        if (DriveRequest.Flag(c, "sack", false, cp)) flags |= TcpConstFlags.Sack;
        if (DriveRequest.Flag(c, "window_scaling", sndScale > 0 || rcvScale > 0, cp)) flags |= TcpConstFlags.WindowScaling;
        else if (sndScale > 0 || rcvScale > 0) throw new DriveRequestException("'const.window_scaling' is false but a window scale is set");
        var tcpConst = new TcpConstState
        {
            Flags = flags,
            LocalPort = (ushort)DriveRequest.Integer(c, "local_port", 1, ushort.MaxValue, null, cp),
            RemotePort = (ushort)DriveRequest.Integer(c, "remote_port", 1, ushort.MaxValue, null, cp),
            SndWindScale = sndScale,
            RcvWindScale = rcvScale,
            RemoteMss = (ushort)DriveRequest.Integer(c, "remote_mss", 88, ushort.MaxValue, null, cp),
            HashValue = DriveRequest.U32(c, "hash", 0, cp),
        };
        var cached = Cached(r.Object("cached", required: false), default);
        var d = r.Object("delegated", required: true);
        const string dp = "delegated.";
        var state = State(d);
        uint sndUna = DriveRequest.U32(d, "snd_una", null, dp);
        uint rcvNxt = DriveRequest.U32(d, "rcv_nxt", null, dp);
        uint sndWnd = DriveRequest.U32(d, "snd_wnd", null, dp);
        var delegated = new TcpDelegatedState
        {
            State = state,
            RcvNxt = new SeqNumber(rcvNxt),
            RcvWnd = DriveRequest.U32(d, "rcv_wnd", null, dp),
            SndUna = new SeqNumber(sndUna),
            SndNxt = new SeqNumber(sndUna),
            SndMax = new SeqNumber(sndUna),
            SndWnd = sndWnd,
            MaxSndWnd = DriveRequest.U32(d, "max_snd_wnd", sndWnd, dp),
            SendWL1 = new SeqNumber(DriveRequest.U32(d, "send_wl1", rcvNxt, dp)),
            CWnd = DriveRequest.U32(d, "cwnd", 10u * tcpConst.RemoteMss, dp),
            SsThresh = DriveRequest.U32(d, "ssthresh", 0x3FFF_FFFF, dp),
            SRtt = (ushort)DriveRequest.Integer(d, "srtt", 0, ushort.MaxValue, 0, dp),
            RttVar = (ushort)DriveRequest.Integer(d, "rttvar", 0, ushort.MaxValue, 0, dp),
            TsRecent = DriveRequest.U32(d, "ts_recent", 0, dp),
            TsRecentAge = DriveRequest.U32(d, "ts_recent_age", 0, dp),
            TsTime = DriveRequest.U32(d, "ts_time", 0, dp),
            TotalRT = DriveRequest.U32(d, "total_rt", 0, dp),
            DupAckCount = (byte)DriveRequest.Integer(d, "dup_ack_count", 0, byte.MaxValue, 0, dp),
            SndWndProbeCount = (byte)DriveRequest.Integer(d, "snd_wnd_probe_count", 0, byte.MaxValue, 0, dp),
        };
        string indications = r.Text("indications", "accept");
        if (indications is not ("accept" or "refuse"))
            throw new DriveRequestException($"'indications' must be accept or refuse, not '{indications}'");
        ushort vlan = (ushort)r.Integer("vlan", 0, NeighborConstState.MaxVlanId, 0);
        return new SyntheticSpec(remote, mac, local, mtu, tcpConst, cached, delegated) { RefuseIndications = indications == "refuse", VlanId = vlan };
    }

    private static TcpState State(JsonElement d)
    {
        string text = DriveRequest.Text(d, "state", "Established", "delegated.");
        if (!Enum.TryParse<TcpState>(text, ignoreCase: true, out var state) || !Enum.IsDefined(state) || int.TryParse(text, out _))
            throw new DriveRequestException($"'delegated.state' '{text}' is not a TCP state (Established, FinWait1, FinWait2, CloseWait, Closing, LastAck)");
        if (!state.IsOffloadable()) throw new DriveRequestException($"'delegated.state' {state} cannot be offloaded (chimney spec §2): Established through LastAck");
        return state;
    }

    /// <summary>TCP cached state; an absent object gives the defaults (docs/drive.md).</summary>
    public static TcpCachedState Cached(JsonElement c, TcpCachedState _)
    {
        if (c.ValueKind != JsonValueKind.Object) return new TcpCachedState { InitialRcvWnd = 65535, TtlOrHopLimit = 64, MaxRT = 0 };
        const string p = "cached.";
        var flags = TcpCachedFlags.None;
        if (DriveRequest.Flag(c, "keepalive", false, p)) flags |= TcpCachedFlags.KeepAliveEnabled;
        if (DriveRequest.Flag(c, "nagle", false, p)) flags |= TcpCachedFlags.NaglingEnabled;
        if (DriveRequest.Flag(c, "update_rcv_wnd", false, p)) flags |= TcpCachedFlags.UpdateRcvWnd;
        return new TcpCachedState
        {
            Flags = flags,
            InitialRcvWnd = DriveRequest.U32(c, "initial_rcv_wnd", 65535, p),
            RcvIndicationSize = DriveRequest.U32(c, "rcv_indication_size", 0, p),
            KaProbeCount = (byte)DriveRequest.Integer(c, "ka_probe_count", 0, byte.MaxValue, 0, p),
            KaTimeout = DriveRequest.U32(c, "ka_timeout", 0, p),
            KaInterval = DriveRequest.U32(c, "ka_interval", 0, p),
            MaxRT = DriveRequest.U32(c, "max_rt", 0, p),
            TtlOrHopLimit = (byte)DriveRequest.Integer(c, "ttl", 1, byte.MaxValue, 64, p),
            TosOrTrafficClass = (byte)DriveRequest.Integer(c, "tos", 0, byte.MaxValue, 0, p),
        };
    }
}
