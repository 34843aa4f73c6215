-- OffloadEmu control protocol (docs/control.md) for Wireshark/tshark. The daemon mirrors every control message into
-- its pcapng capture on an interface of link type 252 (exported PDU) naming this dissector, next to the wire frames.
--   wireshark -X lua_script:scripts/wireshark/offloademu.lua out/offloademud.pcapng
--   tshark -X lua_script:scripts/wireshark/offloademu.lua -r out/offloademud.pcapng -Y 'offloademu.handle == 0x3'
-- Record: u64 session id, u8 1 = from client, then the message as framed: u32 payload length, u16 type,
-- u16 reserved, u64 request id, payload (little endian). Bulk data (frames, send data, indications) is cut by the
-- daemon after the first 128 payload bytes; what is cut is not dissected.
--
-- Filtering by connection: offloademu.handle is the host's handle of a TCP connection and offloademu.context the
-- target's context. Each message carries one or the other (or, in a state tree, both); the dissector learns the pair
-- of each connection from the initiate's completion, and NBL ids from sends, and adds the other as a generated field,
-- so 'offloademu.session == 1 && offloademu.handle == 0x3' shows the initiate, its completion, sends and their
-- completions, indications, events and the terminate of that connection. (Learnt in file order, as tshark reads.)

local p = Proto("offloademu", "OffloadEmu control protocol")

local types = {
    [1] = "Hello", [2] = "SetParameters", [3] = "QueryStatistics", [4] = "ResetStatistics", [5] = "SendFrame",
    [6] = "InitiateOffload", [7] = "TerminateOffload", [8] = "UpdateOffload", [9] = "InvalidateOffload",
    [10] = "QueryOffloadState", [11] = "TcpSend", [12] = "TcpReceive", [13] = "TcpDisconnect", [14] = "TcpForward",
    [15] = "ReceiveConsumed", [16] = "QueryStatus", [17] = "QueryParameters", [18] = "Fragment",
    [64] = "HelloReply", [65] = "Error", [66] = "StatusReply", [67] = "StatisticsReply", [68] = "StateComplete",
    [69] = "TcpSendComplete", [70] = "TcpReceiveComplete", [71] = "TcpDisconnectComplete", [72] = "TcpForwardComplete",
    [73] = "ReceiveIndicate", [74] = "TcpEvent", [75] = "NeighborEvent", [76] = "AdapterStatus", [77] = "ReceiveFrame",
    [78] = "StatusInfo", [79] = "ParametersReply", [80] = "ServerFragment",
}
local events = { [1] = "SendBacklogChange", [2] = "Disconnect", [3] = "Retrieve", [4] = "Abort" }
local operations = { [0] = "Initiate", [1] = "Terminate", [2] = "Update", [3] = "Invalidate", [4] = "Query" }
local errors = { [1] = "Malformed", [2] = "Oversized", [3] = "OutOfOrder", [4] = "UnknownType", [5] = "BadMagic",
    [6] = "VersionMismatch", [7] = "TooSlow", [8] = "Shutdown", [9] = "Internal", [10] = "NotPermitted" }
local roles = { [0] = "Host", [1] = "Monitor" }
local block_types = {
    [1] = "NeighborConst", [2] = "NeighborCached", [3] = "NeighborDelegated", [4] = "Neighbor",
    [5] = "Ip4Const", [6] = "Ip4Cached", [7] = "Ip4Delegated", [8] = "Ip4Path",
    [9] = "Ip6Const", [10] = "Ip6Cached", [11] = "Ip6Delegated", [12] = "Ip6Path",
    [13] = "TcpConst", [14] = "TcpCached", [15] = "TcpDelegated", [16] = "TcpResource", [17] = "Tcp",
}
local tcp_states = { [0] = "Closed", [1] = "Listen", [2] = "SynSent", [3] = "SynRcvd", [4] = "Established", [5] = "FinWait1",
    [6] = "FinWait2", [7] = "CloseWait", [8] = "Closing", [9] = "LastAck", [10] = "TimeWait" }

local f = p.fields
f.session = ProtoField.uint64("offloademu.session", "Session")
f.from_client = ProtoField.uint8("offloademu.from_client", "From client")
f.length = ProtoField.uint32("offloademu.length", "Payload length")
f.type = ProtoField.uint16("offloademu.type", "Type", base.DEC, types)
f.request = ProtoField.uint64("offloademu.request_id", "Request id")
f.context = ProtoField.uint64("offloademu.context", "Connection context", base.HEX)
f.handle = ProtoField.uint64("offloademu.handle", "Connection handle", base.HEX)
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
f.block = ProtoField.none("offloademu.block", "Block")
f.block_type = ProtoField.uint8("offloademu.block.type", "Block type", base.DEC, block_types)
f.block_status = ProtoField.uint32("offloademu.block.status", "Block status", base.HEX)
f.block_context = ProtoField.uint64("offloademu.block.context", "Block context", base.HEX)
f.block_handle = ProtoField.uint64("offloademu.block.handle", "Block handle", base.HEX)
f.tcp_state = ProtoField.uint8("offloademu.tcp_state", "TCP state", base.DEC, tcp_states)
f.local_port = ProtoField.uint16("offloademu.local_port", "Local port")
f.remote_port = ProtoField.uint16("offloademu.remote_port", "Remote port")
f.nbl = ProtoField.uint64("offloademu.nbl", "NBL id")
f.truncated = ProtoField.none("offloademu.truncated", "[Cut in the capture]")

-- Per session (keyed "session:x"): context -> handle, handle -> context, NBL id -> handle. Rebuilt when a file is
-- opened again.
local ctx_to_handle, handle_to_ctx, nbl_to_handle = {}, {}, {}
function p.init()
    ctx_to_handle, handle_to_ctx, nbl_to_handle = {}, {}, {}
end

local function key(session, v) return tostring(session) .. ":" .. tostring(v) end

-- 0x-less hex without leading zeros.
local function hex(v)
    local h = string.gsub(v:tohex(), "^0+", "")
    return h == "" and "0" or h
end

local function learn(session, ctx, handle)
    if ctx == nil or handle == nil or ctx == UInt64(0) or handle == UInt64(0) then return end
    ctx_to_handle[key(session, ctx)] = handle
    handle_to_ctx[key(session, handle)] = ctx
end

-- Adds the connection's handle and context; the one not in the message as a generated field.
local function connection(t, range, session, ctx, handle)
    if ctx ~= nil and handle == nil then handle = ctx_to_handle[key(session, ctx)] end
    if handle ~= nil and ctx == nil then ctx = handle_to_ctx[key(session, handle)] end
    return ctx, handle
end

local function add_connection(t, range, session, ctx, handle, ctx_given, handle_given)
    if ctx ~= nil then
        local item = t:add(f.context, range, ctx)
        if not ctx_given then item:set_generated() end
    end
    if handle ~= nil then
        local item = t:add(f.handle, range, handle)
        if not handle_given then item:set_generated() end
    end
end

-- A reader over the payload that stops (returns nil) when the record was cut.
local function reader(tvb, at)
    local r = { at = at, len = tvb:len() }
    function r:need(n) return self.at + n <= self.len end
    function r:skip(n) if not self:need(n) then return false end self.at = self.at + n return true end
    function r:u8() if not self:need(1) then return nil end local v = tvb(self.at, 1):uint() self.at = self.at + 1 return v end
    function r:u16() if not self:need(2) then return nil end local v = tvb(self.at, 2):le_uint() self.at = self.at + 2 return v end
    function r:u32() if not self:need(4) then return nil end local v = tvb(self.at, 4):le_uint() self.at = self.at + 4 return v end
    function r:u64() if not self:need(8) then return nil end local v = tvb(self.at, 8):le_uint64() self.at = self.at + 8 return v end
    return r
end

-- One NBL; mode "data" (bytes), "post" (capacities) or "ref" (advance/remaining). Returns its id (nil when even
-- that was cut) and whether the whole NBL was there.
local function nbl(r, mode)
    local id = r:u64()
    if id == nil or not r:skip(4 + 4 + 4 + 1) then return id, false end
    local nbs = r:u32()
    if nbs == nil then return id, false end
    for _ = 1, nbs do
        if mode == "data" then
            local n = r:u32()
            if n == nil or not r:skip(n) then return id, false end
        elseif mode == "post" then
            if not r:skip(4) then return id, false end
        else
            if not r:skip(8) then return id, false end
        end
    end
    return id, true
end

-- A chain: u32 count, NBLs. Returns the ids seen (a cut chain returns those before the cut) and the count.
local function chain(r, mode)
    local count = r:u32()
    local ids = {}
    if count == nil then return ids, 0 end
    for _ = 1, count do
        local id, whole = nbl(r, mode)
        if id ~= nil then ids[#ids + 1] = id end
        if not whole then return ids, count end
    end
    return ids, count
end

local function ip(r)
    local v6 = r:u8()
    if v6 == nil then return false end
    return r:skip(v6 == 1 and 16 or 4)
end

-- A state tree (flat list of blocks with depth). Returns the TCP blocks as { ctx, handle, status } and whether the
-- whole tree was read.
local function tree_blocks(tvb, t, r, mode, session, learn_pairs)
    local count = r:u32()
    local tcps = {}
    if count == nil then return tcps, false end
    t:add_le(f.count, tvb(r.at - 4, 4))
    for _ = 1, count do
        local start = r.at
        if not r:need(28) then return tcps, false end
        local depth = tvb(start, 1):uint()
        local btype = tvb(start + 1, 1):uint()
        local flags = tvb(start + 2, 2):le_uint()
        local status = tvb(start + 4, 4):le_uint()
        local ctx = tvb(start + 8, 8):le_uint64()
        local handle = tvb(start + 16, 8):le_uint64()
        local bt = t:add(f.block, tvb(start, 28))
        bt:set_text(string.format("%s%s block, status 0x%08x, context 0x%s, handle 0x%s", string.rep("  ", depth),
            block_types[btype] or tostring(btype), status, hex(ctx), hex(handle)))
        bt:add(f.block_type, tvb(start + 1, 1))
        bt:add_le(f.block_status, tvb(start + 4, 4))
        bt:add_le(f.block_context, tvb(start + 8, 8))
        bt:add_le(f.block_handle, tvb(start + 16, 8))
        r.at = start + 28
        local ok = true
        if bit.band(flags, 1) ~= 0 then ok = ok and r:skip(10) end
        if bit.band(flags, 2) ~= 0 then ok = ok and r:skip(12) end
        if bit.band(flags, 4) ~= 0 then ok = ok and r:skip(4) end
        if bit.band(flags, 8) ~= 0 then ok = ok and ip(r) and ip(r) end
        if bit.band(flags, 16) ~= 0 then ok = ok and r:skip(4) end
        if ok and bit.band(flags, 64) ~= 0 then
            if r:need(14) then
                bt:add_le(f.remote_port, tvb(r.at + 2, 2))
                bt:add_le(f.local_port, tvb(r.at + 4, 2))
            end
            ok = r:skip(14)
        end
        if ok and bit.band(flags, 128) ~= 0 then ok = r:skip(30) end
        if ok and bit.band(flags, 256) ~= 0 then
            if r:need(1) then bt:add(f.tcp_state, tvb(r.at, 1)) end
            ok = r:skip(95)
            local buffered = ok and r:u8() or nil
            if buffered == nil then ok = false elseif buffered == 1 then chain(r, "data") end
        end
        local ids, nbls = {}, 0
        if ok and bit.band(flags, 1024) ~= 0 then ids, nbls = chain(r, mode) end
        if btype >= 13 then
            if learn_pairs then learn(session, ctx, handle) end
            tcps[#tcps + 1] = { ctx = ctx, handle = handle, status = status, range = tvb(start + 8, 16), ids = ids, nbls = nbls }
        end
        if not ok then return tcps, false end
    end
    return tcps, true
end

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
-- StatusInfo, version 3: the engine loops; version 4: the segmentation-offload mode and its super-frames
f.st_queues = ProtoField.uint32("offloademu.status.device_queues", "Device queues")
f.st_loops = ProtoField.uint32("offloademu.status.loops", "Engine loops")
f.l_index = ProtoField.uint32("offloademu.loop.index", "Loop")
f.l_conns = ProtoField.uint32("offloademu.loop.connections", "Connections")
f.l_frames_in = ProtoField.uint64("offloademu.loop.frames_in", "Frames in")
f.l_frames_out = ProtoField.uint64("offloademu.loop.frames_out", "Frames out")
f.l_handed = ProtoField.uint64("offloademu.loop.handed_off", "Handed off")
f.l_hand_drops = ProtoField.uint64("offloademu.loop.hand_off_drops", "Hand-offs dropped")
f.st_segoff = ProtoField.uint8("offloademu.status.segmentation_offload", "Segmentation offload", base.DEC, { [0] = "off", [1] = "on" })
f.st_sf_in = ProtoField.uint64("offloademu.status.super_frames_in", "Super-frames in (device)")
f.st_sf_out = ProtoField.uint64("offloademu.status.super_frames_out", "Super-frames out (device)")
f.st_tsf_in = ProtoField.uint64("offloademu.status.target_super_frames_in", "Super-frames processed whole (target)")
f.st_tsf_out = ProtoField.uint64("offloademu.status.target_super_frames_out", "Super-segments sent (target)")

-- StatusInfo: fields in order (docs/control.md); stops quietly at the end of a truncated record.
local function dissect_status(tvb, t, pl, plen)
    local o = pl
    local len = math.min(tvb:len(), pl + plen)
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
    local complete = true
    for _ = 1, listed do
        complete = false
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
        complete = true
    end
    local summary = string.format(" %s %s %s, %d sessions, %d connections", version, kind, iface, sessions, total)
    -- Version 3 (bytes left after the connections): device queues, loop count, per loop connections and four counters.
    if not complete or not has(8) then return summary end
    t:add_le(f.st_queues, tvb(o, 4))
    local queues = tvb(o, 4):le_uint()
    local loops = tvb(o + 4, 4):le_uint()
    t:add_le(f.st_loops, tvb(o + 4, 4)); o = o + 8
    for i = 0, loops - 1 do
        if not has(36) then return summary end
        local l = t:add(p, tvb(o, 36), string.format("Loop %d", i))
        l:add(f.l_index, tvb(o, 36), i):set_generated()
        l:add_le(f.l_conns, tvb(o, 4)); l:add_le(f.l_frames_in, tvb(o + 4, 8)); l:add_le(f.l_frames_out, tvb(o + 12, 8))
        l:add_le(f.l_handed, tvb(o + 20, 8)); l:add_le(f.l_hand_drops, tvb(o + 28, 8))
        l:append_text(string.format(": %d connections", tvb(o, 4):le_uint()))
        o = o + 36
    end
    if loops > 0 then summary = summary .. string.format(", %d loops over %d queue%s", loops, queues, queues == 1 and "" or "s") end
    -- Version 4: segmentation-offload mode u8, device super-frames in/out, target super-frames in/out (u64 each).
    if not has(33) then return summary end
    t:add(f.st_segoff, tvb(o, 1))
    local on = tvb(o, 1):uint() == 1
    t:add_le(f.st_sf_in, tvb(o + 1, 8)); t:add_le(f.st_sf_out, tvb(o + 9, 8))
    t:add_le(f.st_tsf_in, tvb(o + 17, 8)); t:add_le(f.st_tsf_out, tvb(o + 25, 8))
    if on then
        summary = summary .. string.format(", segmentation offload: super-frames in %s, out %s",
            tostring(tvb(o + 1, 8):le_uint64()), tostring(tvb(o + 9, 8):le_uint64()))
    end
    return summary
end

function p.dissector(tvb, pinfo, tree)
    if tvb:len() < 25 then return 0 end
    pinfo.cols.protocol = "OffloadEmu"
    local t = tree:add(p, tvb())
    t:add_le(f.session, tvb(0, 8))
    local session = tvb(0, 8):le_uint64()
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
    if avail < len then t:add(f.truncated, tvb(pl, avail)) end
    local extra = ""
    local r = reader(tvb, pl)

    if ty >= 11 and ty <= 15 and avail >= 8 then
        -- I/O on a connection: its context first.
        local ctx = tvb(pl, 8):le_uint64()
        local c, h = connection(t, tvb(pl, 8), session, ctx, nil)
        add_connection(t, tvb(pl, 8), session, c, h, true, false)
        extra = " ctx=0x" .. hex(ctx)
        if h ~= nil then extra = extra .. " handle=0x" .. hex(h) end
        r.at = pl + 8
        if ty == 15 then
            if avail >= 12 then t:add_le(f.bytes, tvb(pl + 8, 4)) end
        elseif ty == 13 then
            if r:skip(4) then
                local nid = nbl(r, "data")
                if nid ~= nil and h ~= nil then nbl_to_handle[key(session, nid)] = h end
                if nid ~= nil then t:add(f.nbl, tvb(pl, 8), nid):set_generated() end
            end
        else
            if avail >= 12 then t:add_le(f.count, tvb(pl + 8, 4)) end
            local count = avail >= 12 and tvb(pl + 8, 4):le_uint() or 0
            local ids = chain(r, ty == 12 and "post" or "data")
            -- The client numbers the NBLs of one request consecutively: a cut chain still names them all.
            if h ~= nil and ids[1] ~= nil then
                for i = 0, count - 1 do nbl_to_handle[key(session, ids[1] + i)] = h end
            end
            if ids[1] ~= nil then t:add(f.nbl, tvb(pl + 8, 4), ids[1]):set_generated() end
            extra = extra .. string.format(" %d NBL%s", count, count == 1 and "" or "s")
        end
    elseif (ty == 73 or ty == 74) and avail >= 8 then
        local handle = tvb(pl, 8):le_uint64()
        local c, h = connection(t, tvb(pl, 8), session, nil, handle)
        add_connection(t, tvb(pl, 8), session, c, h, false, true)
        extra = " handle=0x" .. hex(handle)
        if ty == 74 and avail >= 16 then
            t:add_le(f.event, tvb(pl + 8, 4))
            t:add_le(f.info, tvb(pl + 12, 4))
            extra = extra .. " " .. (events[tvb(pl + 8, 4):le_uint()] or "?")
        elseif ty == 73 and avail >= 12 then
            t:add_le(f.bytes, tvb(pl + 8, 4))
            extra = extra .. string.format(" %d bytes", tvb(pl + 8, 4):le_uint())
        end
    elseif (ty >= 6 and ty <= 10) or ty == 68 or ty == 75 then
        -- State trees: requests carry data-form chains, completions and neighbour events ref-form ones.
        local mode = "data"
        local op = nil
        if ty == 68 then
            if avail < 1 then return tvb:len() end
            t:add(f.operation, tvb(pl, 1))
            op = tvb(pl, 1):uint()
            extra = " " .. (operations[op] or "?")
            mode = "ref"
            r.at = pl + 1
        elseif ty == 75 then
            mode = "ref"
            r.at = pl + 4
        end
        -- An initiate's completion pairs each new connection's handle with the target's context.
        local tcps = tree_blocks(tvb, t, r, mode, session, ty == 68 and op == 0)
        for _, b in ipairs(tcps) do
            local c = b.ctx ~= UInt64(0) and b.ctx or nil
            local h = b.handle ~= UInt64(0) and b.handle or nil
            local c2, h2 = connection(t, b.range, session, c, h)
            add_connection(t, b.range, session, c2, h2, c ~= nil, h ~= nil)
            if h2 ~= nil then extra = extra .. " handle=0x" .. hex(h2) end
            if c2 ~= nil then extra = extra .. " ctx=0x" .. hex(c2) end
            -- An initiate hands the connection's outstanding sends over (numbered consecutively by the client): their
            -- completions name them.
            if ty == 6 and h2 ~= nil and b.ids[1] ~= nil then
                for i = 0, b.nbls - 1 do nbl_to_handle[key(session, b.ids[1] + i)] = h2 end
            end
        end
    elseif (ty == 69 or ty == 71 or ty == 72) and avail >= 4 then
        -- Completions name the client's NBLs by id: the connection is the one the NBLs were sent on.
        t:add_le(f.count, tvb(pl, 4))
        local ids = chain(r, "ref")
        local seen = {}
        for _, nid in ipairs(ids) do
            local h = nbl_to_handle[key(session, nid)]
            if h ~= nil and not seen[tostring(h)] then
                seen[tostring(h)] = true
                local c = handle_to_ctx[key(session, h)]
                add_connection(t, tvb(pl, 4), session, c, h, false, false)
                extra = extra .. " handle=0x" .. hex(h)
            end
        end
        for _, nid in ipairs(ids) do t:add(f.nbl, tvb(pl, 4), nid):set_generated() end
    elseif ty == 70 and avail >= 4 then
        t:add_le(f.count, tvb(pl, 4))
        if avail >= 12 then
            local ctx = tvb(pl + 4, 8):le_uint64()
            local c, h = connection(t, tvb(pl + 4, 8), session, ctx, nil)
            add_connection(t, tvb(pl + 4, 8), session, c, h, true, false)
            extra = " ctx=0x" .. hex(ctx)
        end
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
        extra = dissect_status(tvb, t, pl, len)
    elseif ty == 65 and avail >= 4 then
        t:add_le(f.error, tvb(pl, 2))
        local n = tvb(pl + 2, 2):le_uint()
        if avail >= 4 + n and n > 0 then t:add(f.text, tvb(pl + 4, n)) end
        extra = " " .. (errors[tvb(pl, 2):le_uint()] or "?")
    end
    pinfo.cols.info = string.format("%s %s id=%s%s", client and "C->S" or "S->C", types[ty] or tostring(ty), tostring(id), extra)
    return tvb:len()
end
