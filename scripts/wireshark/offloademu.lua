-- OffloadEmu control protocol (docs/control.md) for Wireshark/tshark. The daemon mirrors every control message into
-- its pcapng capture on an interface of link type 252 (exported PDU) naming this dissector, next to the wire frames.
--   wireshark -X lua_script:scripts/wireshark/offloademu.lua out/offloademud.pcapng
--   tshark -X lua_script:scripts/wireshark/offloademu.lua -r out/offloademud.pcapng -Y 'offloademu.context == 0x1'
-- Record: u64 session id, u8 1 = from client, then the message as framed: u32 payload length, u16 type,
-- u16 reserved, u64 request id, payload (little endian).

local p = Proto("offloademu", "OffloadEmu control protocol")

local types = {
    [1] = "Hello", [2] = "SetParameters", [3] = "QueryStatistics", [4] = "ResetStatistics", [5] = "SendFrame",
    [6] = "InitiateOffload", [7] = "TerminateOffload", [8] = "UpdateOffload", [9] = "InvalidateOffload",
    [10] = "QueryOffloadState", [11] = "TcpSend", [12] = "TcpReceive", [13] = "TcpDisconnect", [14] = "TcpForward",
    [15] = "ReceiveConsumed", [16] = "QueryStatus", [17] = "QueryParameters",
    [64] = "HelloReply", [65] = "Error", [66] = "StatusReply", [67] = "StatisticsReply", [68] = "StateComplete",
    [69] = "TcpSendComplete", [70] = "TcpReceiveComplete", [71] = "TcpDisconnectComplete", [72] = "TcpForwardComplete",
    [73] = "ReceiveIndicate", [74] = "TcpEvent", [75] = "NeighborEvent", [76] = "AdapterStatus", [77] = "ReceiveFrame",
    [78] = "StatusInfo", [79] = "ParametersReply",
}
local events = { [1] = "SendBacklogChange", [2] = "Disconnect", [3] = "Retrieve", [4] = "Abort" }
local operations = { [0] = "Initiate", [1] = "Terminate", [2] = "Update", [3] = "Invalidate", [4] = "Query" }
local errors = { [1] = "Malformed", [2] = "Oversized", [3] = "OutOfOrder", [4] = "UnknownType", [5] = "BadMagic",
    [6] = "VersionMismatch", [7] = "TooSlow", [8] = "Shutdown", [9] = "Internal", [10] = "NotPermitted" }
local roles = { [0] = "Host", [1] = "Monitor" }
local tcp_states = { [0] = "Closed", [1] = "Listen", [2] = "SynSent", [3] = "SynRcvd", [4] = "Established", [5] = "FinWait1",
    [6] = "FinWait2", [7] = "CloseWait", [8] = "Closing", [9] = "LastAck", [10] = "TimeWait" }

local f = p.fields
f.session = ProtoField.uint64("offloademu.session", "Session")
f.from_client = ProtoField.uint8("offloademu.from_client", "From client")
f.length = ProtoField.uint32("offloademu.length", "Payload length")
f.type = ProtoField.uint16("offloademu.type", "Type", base.DEC, types)
f.request = ProtoField.uint64("offloademu.request_id", "Request id")
f.context = ProtoField.uint64("offloademu.context", "Context", base.HEX)
f.handle = ProtoField.uint64("offloademu.handle", "Handle", base.HEX)
f.event = ProtoField.uint32("offloademu.event", "Event", base.DEC, events)
f.info = ProtoField.uint32("offloademu.info", "Event info")
f.status = ProtoField.uint32("offloademu.status", "Status", base.HEX)
f.operation = ProtoField.uint8("offloademu.operation", "Operation", base.DEC, operations)
f.count = ProtoField.uint32("offloademu.count", "Items")
f.bytes = ProtoField.uint32("offloademu.bytes", "Bytes")
f.name = ProtoField.string("offloademu.client_name", "Client name")
f.version = ProtoField.uint16("offloademu.version", "Version")
f.error = ProtoField.uint16("offloademu.error", "Error", base.DEC, errors)
f.text = ProtoField.string("offloademu.text", "Text")
-- ParametersReply (79): status, the offload parameters, then times in microseconds
f.ticks = ProtoField.uint32("offloademu.params.ticks_per_second", "Ticks per second")
f.ack_freq = ProtoField.uint8("offloademu.params.ack_frequency", "TcpAckFrequency")
f.delack = ProtoField.uint8("offloademu.params.delayed_ack_ticks", "TcpDelayedAckTicks")
f.max_rexmit = ProtoField.uint8("offloademu.params.max_retransmissions", "TcpMaximumRetransmissions")
f.doubt = ProtoField.uint8("offloademu.params.doubt_reachability", "TcpDoubtReachabilityRetransmissions")
f.sws = ProtoField.uint32("offloademu.params.sws_ticks", "TcpSwsPreventionTicks")
f.dupack = ProtoField.uint32("offloademu.params.dupack_threshold", "TcpDuplicateAckThreshold")
f.push = ProtoField.uint32("offloademu.params.push_ticks", "TcpPushTicks")
f.nce_stale = ProtoField.uint32("offloademu.params.nce_stale_ticks", "NceStaleTicks")
f.min_rto = ProtoField.uint64("offloademu.params.min_rto_us", "RTO floor (us)")
f.max_rto = ProtoField.uint64("offloademu.params.max_rto_us", "RTO ceiling (us)")
f.fin_wait_2 = ProtoField.uint64("offloademu.params.fin_wait_2_us", "FIN_WAIT_2 time (us)")
f.challenge_ack = ProtoField.uint64("offloademu.params.challenge_ack_us", "Challenge-ACK interval (us)")

-- Hello role (u8 after the name), QueryStatus (16) and StatusInfo (78)
f.role = ProtoField.uint8("offloademu.role", "Client role", base.DEC, roles)
f.max_conns = ProtoField.uint32("offloademu.status.max_connections", "Most connections asked for")
f.st_version = ProtoField.string("offloademu.status.version", "Daemon version")
f.st_uptime = ProtoField.uint64("offloademu.status.uptime_us", "Uptime (us)")
f.st_time = ProtoField.uint64("offloademu.status.time_us", "Taken at (us since 1970)")
f.st_kind = ProtoField.string("offloademu.status.link_kind", "Link kind")
f.st_iface = ProtoField.string("offloademu.status.interface", "Interface")
f.st_mac = ProtoField.uint64("offloademu.status.mac", "MAC", base.HEX)
f.st_mtu = ProtoField.int32("offloademu.status.mtu", "MTU")
f.st_frames_in = ProtoField.uint64("offloademu.status.frames_in", "Frames in")
f.st_bytes_in = ProtoField.uint64("offloademu.status.bytes_in", "Bytes in")
f.st_frames_out = ProtoField.uint64("offloademu.status.frames_out", "Frames out")
f.st_bytes_out = ProtoField.uint64("offloademu.status.bytes_out", "Bytes out")
f.st_drop_reason = ProtoField.string("offloademu.status.drop_reason", "Drop reason")
f.st_drops = ProtoField.uint64("offloademu.status.drops", "Drops")
f.st_frames_up = ProtoField.uint64("offloademu.status.frames_up", "Frames up to the hosts")
f.st_dropped = ProtoField.uint64("offloademu.status.target_dropped", "Frames dropped by the target")
f.st_sessions = ProtoField.uint32("offloademu.status.sessions", "Sessions")
f.st_session_id = ProtoField.uint64("offloademu.status.session_id", "Session")
f.st_objects = ProtoField.uint32("offloademu.status.objects", "Objects")
f.st_total = ProtoField.uint32("offloademu.status.connections_total", "Connections (all)")
f.st_listed = ProtoField.uint32("offloademu.status.connections", "Connections listed")
f.c_local = ProtoField.string("offloademu.conn.local", "Local")
f.c_remote = ProtoField.string("offloademu.conn.remote", "Remote")
f.c_state = ProtoField.uint8("offloademu.conn.state", "State", base.DEC, tcp_states)
f.c_snd_una = ProtoField.uint32("offloademu.conn.snd_una", "SndUna")
f.c_snd_nxt = ProtoField.uint32("offloademu.conn.snd_nxt", "SndNxt")
f.c_snd_max = ProtoField.uint32("offloademu.conn.snd_max", "SndMax")
f.c_rcv_nxt = ProtoField.uint32("offloademu.conn.rcv_nxt", "RcvNxt")
f.c_snd_wnd = ProtoField.uint32("offloademu.conn.snd_wnd", "SndWnd")
f.c_rcv_wnd = ProtoField.uint32("offloademu.conn.rcv_wnd", "RcvWnd")
f.c_cwnd = ProtoField.uint32("offloademu.conn.cwnd", "CWnd")
f.c_ssthresh = ProtoField.uint32("offloademu.conn.ssthresh", "SsThresh")
f.c_srtt = ProtoField.uint64("offloademu.conn.srtt_us", "SRtt (us)")
f.c_rttvar = ProtoField.uint64("offloademu.conn.rttvar_us", "RttVar (us)")
f.c_rto = ProtoField.uint64("offloademu.conn.rto_us", "RTO (us)")
f.c_mss = ProtoField.uint32("offloademu.conn.mss", "MSS")
f.c_retrans = ProtoField.uint64("offloademu.conn.retransmits", "Retransmitted segments")
f.c_backoff = ProtoField.uint32("offloademu.conn.backoff", "Retransmit backoff")
f.c_in = ProtoField.uint64("offloademu.conn.in_segments", "Segments in")
f.c_out = ProtoField.uint64("offloademu.conn.out_segments", "Segments out")
f.c_sendq = ProtoField.uint64("offloademu.conn.send_queued", "Send queued")
f.c_backlog = ProtoField.uint32("offloademu.conn.send_backlog", "Send backlog")
f.c_rcvbuf = ProtoField.uint32("offloademu.conn.receive_buffered", "Receive buffered")

-- StatusInfo: fields in order (docs/control.md); stops quietly at the end of a truncated record.
local function dissect_status(tvb, t, pl)
    local o = pl
    local len = tvb:len()
    local function has(n) return o + n <= len end
    local function str(field)
        if not has(2) then return nil end
        local n = tvb(o, 2):le_uint()
        if not has(2 + n) then return nil end
        local s = n > 0 and tvb(o + 2, n):string() or ""
        if n > 0 then t:add(field, tvb(o + 2, n)) end
        o = o + 2 + n
        return s
    end
    local function ip()
        if not has(1) then return nil end
        local v6 = tvb(o, 1):uint() == 1
        local n = v6 and 16 or 4
        if not has(1 + n) then return nil end
        local a = v6 and tostring(tvb(o + 1, 16):ipv6()) or tostring(tvb(o + 1, 4):ipv4())
        o = o + 1 + n
        return a, v6
    end
    local function add(field, n, tree) if not has(n) then return false end; (tree or t):add_le(field, tvb(o, n)); o = o + n; return true end
    if not add(f.status, 4) then return "" end
    local version = str(f.st_version) or ""
    if not (add(f.st_uptime, 8) and add(f.st_time, 8)) then return "" end
    local kind = str(f.st_kind) or ""
    local iface = str(f.st_iface) or ""
    if not (add(f.st_mac, 8) and add(f.st_mtu, 4) and add(f.st_frames_in, 8) and add(f.st_bytes_in, 8)
        and add(f.st_frames_out, 8) and add(f.st_bytes_out, 8)) or not has(4) then return "" end
    local drops = tvb(o, 4):le_uint(); o = o + 4
    for _ = 1, drops do
        if not str(f.st_drop_reason) or not add(f.st_drops, 8) then return "" end
    end
    o = o + 17 + 24          -- capabilities, offload parameters
    if not (add(f.st_frames_up, 8) and add(f.st_dropped, 8)) then return "" end
    o = o + 2 * (7 * 8 + 10 * 8) -- TCP and IP statistics, IPv4 then IPv6
    if not has(4) then return "" end
    local sessions = tvb(o, 4):le_uint()
    t:add_le(f.st_sessions, tvb(o, 4)); o = o + 4
    for _ = 1, sessions do
        if not add(f.st_session_id, 8) or not str(f.name) or not add(f.st_objects, 4) then return "" end
    end
    if not (has(8)) then return "" end
    local total = tvb(o, 4):le_uint()
    t:add_le(f.st_total, tvb(o, 4))
    local listed = tvb(o + 4, 4):le_uint()
    t:add_le(f.st_listed, tvb(o + 4, 4)); o = o + 8
    for _ = 1, listed do
        if not has(24) then break end
        local start = o
        local c = t:add(p, tvb(o, 1), "Connection")
        c:add_le(f.context, tvb(o, 8)); c:add_le(f.handle, tvb(o + 8, 8)); c:add_le(f.st_session_id, tvb(o + 16, 8)); o = o + 24
        local la, l6 = ip(); if not la or not has(2) then break end
        local lp = tvb(o, 2):le_uint(); o = o + 2
        local ra, r6 = ip(); if not ra or not has(2) then break end
        local rp = tvb(o, 2):le_uint(); o = o + 2
        local function ep(a, v6, port) return v6 and ("[" .. a .. "]:" .. port) or (a .. ":" .. port) end
        c:add(f.c_local, ep(la, l6, lp)); c:add(f.c_remote, ep(ra, r6, rp))
        if not has(1 + 32 + 24 + 4 + 8 + 4 + 16 + 8 + 8) then break end
        c:add(f.c_state, tvb(o, 1)); o = o + 1
        for _, fld in ipairs({ f.c_snd_una, f.c_snd_nxt, f.c_snd_max, f.c_rcv_nxt, f.c_snd_wnd, f.c_rcv_wnd, f.c_cwnd, f.c_ssthresh }) do
            add(fld, 4, c)
        end
        add(f.c_srtt, 8, c); add(f.c_rttvar, 8, c); add(f.c_rto, 8, c); add(f.c_mss, 4, c); add(f.c_retrans, 8, c)
        add(f.c_backoff, 4, c); add(f.c_in, 8, c); add(f.c_out, 8, c); add(f.c_sendq, 8, c); add(f.c_backlog, 4, c); add(f.c_rcvbuf, 4, c)
        c:set_len(o - start)
        c:append_text(string.format(": %s -> %s", ep(la, l6, lp), ep(ra, r6, rp)))
    end
    return string.format(" %s %s %s, %d sessions, %d connections", version, kind, iface, sessions, total)
end

function p.dissector(tvb, pinfo, tree)
    if tvb:len() < 25 then return 0 end
    pinfo.cols.protocol = "OffloadEmu"
    local t = tree:add(p, tvb())
    t:add_le(f.session, tvb(0, 8))
    t:add(f.from_client, tvb(8, 1))
    local client = tvb(8, 1):uint() == 1
    local o = 9
    local len = tvb(o, 4):le_uint()
    local ty = tvb(o + 4, 2):le_uint()
    t:add_le(f.length, tvb(o, 4))
    t:add_le(f.type, tvb(o + 4, 2))
    t:add_le(f.request, tvb(o + 8, 8))
    local id = tvb(o + 8, 8):le_uint64()
    local pl = o + 16
    local avail = tvb:len() - pl
    local extra = ""
    local function u64(at) return tvb(pl + at, 8) end
    if avail >= 8 and (ty >= 11 and ty <= 15) then
        t:add_le(f.context, u64(0))
        extra = string.format(" ctx=0x%x", tvb(pl, 8):le_uint64():tonumber())
        if ty ~= 15 and avail >= 12 then
            if ty == 13 then t:add_le(f.count, tvb(pl + 8, 4)) else t:add_le(f.count, tvb(pl + 8, 4)) end
        elseif ty == 15 and avail >= 12 then
            t:add_le(f.bytes, tvb(pl + 8, 4))
        end
    elseif avail >= 8 and (ty == 73 or ty == 74) then
        t:add_le(f.handle, u64(0))
        extra = string.format(" handle=0x%x", tvb(pl, 8):le_uint64():tonumber())
        if ty == 74 and avail >= 16 then
            t:add_le(f.event, tvb(pl + 8, 4))
            t:add_le(f.info, tvb(pl + 12, 4))
            extra = extra .. " " .. (events[tvb(pl + 8, 4):le_uint()] or "?")
        elseif ty == 73 and avail >= 12 then
            t:add_le(f.bytes, tvb(pl + 8, 4))
            extra = extra .. string.format(" %d bytes", tvb(pl + 8, 4):le_uint())
        end
    elseif ty == 68 and avail >= 5 then
        t:add(f.operation, tvb(pl, 1))
        t:add_le(f.count, tvb(pl + 1, 4))
        extra = " " .. (operations[tvb(pl, 1):uint()] or "?")
    elseif (ty == 69 or ty == 70 or ty == 71 or ty == 72) and avail >= 4 then
        t:add_le(f.count, tvb(pl, 4))
    elseif (ty == 66 or ty == 76) and avail >= 4 then
        t:add_le(f.status, tvb(pl, 4))
        extra = string.format(" 0x%08x", tvb(pl, 4):le_uint())
    elseif ty == 79 and avail >= 60 then
        t:add_le(f.status, tvb(pl, 4))
        t:add_le(f.ticks, tvb(pl + 4, 4))
        t:add(f.ack_freq, tvb(pl + 8, 1))
        t:add(f.delack, tvb(pl + 9, 1))
        t:add(f.max_rexmit, tvb(pl + 10, 1))
        t:add(f.doubt, tvb(pl + 11, 1))
        t:add_le(f.sws, tvb(pl + 12, 4))
        t:add_le(f.dupack, tvb(pl + 16, 4))
        t:add_le(f.push, tvb(pl + 20, 4))
        t:add_le(f.nce_stale, tvb(pl + 24, 4))
        t:add_le(f.min_rto, tvb(pl + 28, 8))
        t:add_le(f.max_rto, tvb(pl + 36, 8))
        t:add_le(f.fin_wait_2, tvb(pl + 44, 8))
        t:add_le(f.challenge_ack, tvb(pl + 52, 8))
        extra = string.format(" 0x%08x tick %d/s", tvb(pl, 4):le_uint(), tvb(pl + 4, 4):le_uint())
    elseif ty == 1 and avail >= 8 then
        t:add_le(f.version, tvb(pl + 4, 2))
        local n = tvb(pl + 6, 2):le_uint()
        if avail >= 8 + n and n > 0 then
            t:add(f.name, tvb(pl + 8, n))
            extra = " " .. tvb(pl + 8, n):string()
        end
        if avail >= 9 + n then
            t:add(f.role, tvb(pl + 8 + n, 1))
            extra = extra .. " (" .. (roles[tvb(pl + 8 + n, 1):uint()] or "?") .. ")"
        end
    elseif ty == 16 and avail >= 4 then
        t:add_le(f.max_conns, tvb(pl, 4))
        extra = string.format(" max %d", tvb(pl, 4):le_uint())
    elseif ty == 78 then
        extra = dissect_status(tvb, t, pl)
    elseif ty == 65 and avail >= 4 then
        t:add_le(f.error, tvb(pl, 2))
        local n = tvb(pl + 2, 2):le_uint()
        if avail >= 4 + n and n > 0 then t:add(f.text, tvb(pl + 4, n)) end
        extra = " " .. (errors[tvb(pl, 2):le_uint()] or "?")
    end
    pinfo.cols.info = string.format("%s %s id=%s%s", client and "C->S" or "S->C", types[ty] or tostring(ty), tostring(id), extra)
    return tvb:len()
end
