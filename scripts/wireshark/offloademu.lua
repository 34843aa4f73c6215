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
    [15] = "ReceiveConsumed", [17] = "QueryParameters",
    [64] = "HelloReply", [65] = "Error", [66] = "StatusReply", [67] = "StatisticsReply", [68] = "StateComplete",
    [69] = "TcpSendComplete", [70] = "TcpReceiveComplete", [71] = "TcpDisconnectComplete", [72] = "TcpForwardComplete",
    [73] = "ReceiveIndicate", [74] = "TcpEvent", [75] = "NeighborEvent", [76] = "AdapterStatus", [77] = "ReceiveFrame",
    [79] = "ParametersReply",
}
local events = { [1] = "SendBacklogChange", [2] = "Disconnect", [3] = "Retrieve", [4] = "Abort" }
local operations = { [0] = "Initiate", [1] = "Terminate", [2] = "Update", [3] = "Invalidate", [4] = "Query" }
local errors = { [1] = "Malformed", [2] = "Oversized", [3] = "OutOfOrder", [4] = "UnknownType", [5] = "BadMagic",
    [6] = "VersionMismatch", [7] = "TooSlow", [8] = "Shutdown", [9] = "Internal" }

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
    elseif ty == 65 and avail >= 4 then
        t:add_le(f.error, tvb(pl, 2))
        local n = tvb(pl + 2, 2):le_uint()
        if avail >= 4 + n and n > 0 then t:add(f.text, tvb(pl + 4, n)) end
        extra = " " .. (errors[tvb(pl, 2):le_uint()] or "?")
    end
    pinfo.cols.info = string.format("%s %s id=%s%s", client and "C->S" or "S->C", types[ty] or tostring(ty), tostring(id), extra)
    return tvb:len()
end
