-- Wireshark / tshark dissector for Hotspare's replication frames (wire version 4; docs/PROTOCOL.md,
-- net-dpdk/include/ckpt/net/wire_format.hpp). The frames are UDP datagrams (port 7490 by default)
-- starting with the magic "HSPR": the dissector registers on that port and as a heuristic on every
-- UDP payload, so a node configured with another udp_port decodes too.
--
--   tshark -X lua_script:/usr/share/hotspare/wireshark/hotspare.lua -r capture.pcap -V
--   (or copy the file into ~/.local/lib/wireshark/plugins/)
--
-- Every field of the 48-byte header and of each frame type's body is shown; the 16-byte tag after
-- the body is shown but not checked (checking an AES-256-GMAC tag needs the cluster key: ckptd
-- counts the frames whose tag fails, see `ckptctl peers`). Display filters: hotspare.type == 1,
-- hotspare.data.commit_seq, hotspare.announce.name == "calls", hotspare.epoch, ...
local hs = Proto("hotspare", "Hotspare replication")

local HEADER = 48
local TAG = 16
local MAGIC = 0x48535052 -- "HSPR"

local frame_types = {
    [1] = "DATA", [2] = "ACK", [3] = "NACK", [4] = "HEARTBEAT", [5] = "HELLO", [6] = "ANNOUNCE",
    [7] = "SECTION", [8] = "HASHES", [9] = "RESYNC_DONE", [10] = "REFUSED",
}
local section_ops = { [1] = "install", [2] = "delete", [3] = "expiration", [4] = "unlink checkpoint" }
local refuse_reasons = {
    [1] = "unknown checkpoint", [2] = "stale epoch (fenced)", [3] = "not from the active", [4] = "bad commit",
    [5] = "cannot create the replica", [6] = "replica over the node's limits",
}
local update_modes = { [0] = "sync (SA_CKPT_WR_ALL_REPLICAS)", [1] = "async (SA_CKPT_WR_ACTIVE_REPLICA)",
    [2] = "async weak (SA_CKPT_WR_ACTIVE_REPLICA_WEAK)" }

local f = {
    magic = ProtoField.uint32("hotspare.magic", "Magic", base.HEX),
    version = ProtoField.uint8("hotspare.version", "Version", base.DEC),
    type = ProtoField.uint8("hotspare.type", "Type", base.DEC, frame_types),
    flags = ProtoField.uint16("hotspare.flags", "Flags", base.HEX),
    flag_last = ProtoField.bool("hotspare.flags.last", "Last fragment / last report", 16, nil, 0x0001),
    flag_overwrite = ProtoField.bool("hotspare.flags.overwrite", "Overwrite (whole section)", 16, nil, 0x0002),
    flag_runs = ProtoField.bool("hotspare.flags.runs", "Runs (DATA with a run table)", 16, nil, 0x0004),
    flag_group = ProtoField.bool("hotspare.flags.group", "Group continues (DATA: more members of a write group follow)", 16,
        nil, 0x0008),
    flag_batch = ProtoField.bool("hotspare.flags.batch", "Batch (DATA: several whole commits coalesced)", 16, nil, 0x0010),
    src_node = ProtoField.uint16("hotspare.src_node", "Source node", base.DEC),
    dst_node = ProtoField.uint16("hotspare.dst_node", "Destination node", base.DEC),
    body_len = ProtoField.uint16("hotspare.body_len", "Body length", base.DEC),
    key_id = ProtoField.uint8("hotspare.key_id", "Key id", base.DEC),
    epoch = ProtoField.uint64("hotspare.epoch", "Epoch", base.DEC),
    link_seq = ProtoField.uint64("hotspare.link_seq", "Link sequence", base.DEC),
    session = ProtoField.uint64("hotspare.session", "Sender session", base.HEX),
    counter = ProtoField.uint64("hotspare.counter", "Frame counter", base.DEC),
    tag = ProtoField.bytes("hotspare.tag", "Tag"),

    ckpt = ProtoField.uint32("hotspare.checkpoint_id", "Checkpoint wire id", base.DEC),
    slot = ProtoField.uint32("hotspare.slot", "Section slot", base.DEC),
    generation = ProtoField.uint64("hotspare.generation", "Section generation", base.DEC),

    d_commit = ProtoField.uint64("hotspare.data.commit_seq", "Commit sequence", base.DEC),
    d_offset = ProtoField.uint64("hotspare.data.offset", "Offset", base.DEC),
    d_length = ProtoField.uint32("hotspare.data.length", "Length", base.DEC),
    d_fragment = ProtoField.uint32("hotspare.data.fragment", "Fragment", base.DEC),
    d_size = ProtoField.uint64("hotspare.data.section_size", "Section size", base.DEC),
    d_payload = ProtoField.bytes("hotspare.data.payload", "Payload"),
    d_runs = ProtoField.uint32("hotspare.data.runs", "Runs", base.DEC),
    d_run_offset = ProtoField.uint64("hotspare.data.run.offset", "Run offset", base.DEC),
    d_run_length = ProtoField.uint32("hotspare.data.run.length", "Run length", base.DEC),
    d_batch_entries = ProtoField.uint16("hotspare.data.batch.entries", "Commits in the batch", base.DEC),
    d_entry_flags = ProtoField.uint16("hotspare.data.batch.entry_flags", "Entry flags", base.HEX),
    d_entry_len = ProtoField.uint32("hotspare.data.batch.entry_length", "Entry length", base.DEC),

    a_cum = ProtoField.uint64("hotspare.ack.cumulative", "Cumulative", base.DEC),
    a_sel = ProtoField.uint64("hotspare.ack.selective", "Selective", base.HEX),
    a_through = ProtoField.uint64("hotspare.ack.sent_through", "Sent through", base.DEC),

    n_first = ProtoField.uint64("hotspare.nack.first", "First missing", base.DEC),
    n_last = ProtoField.uint64("hotspare.nack.last", "Last missing", base.DEC),

    boot = ProtoField.uint64("hotspare.boot_id", "Boot id (session)", base.HEX),
    hb_ckpts = ProtoField.uint32("hotspare.heartbeat.checkpoints", "Checkpoints served", base.DEC),
    key_newest = ProtoField.uint8("hotspare.key_newest", "Newest key id held", base.DEC),
    key_previous = ProtoField.uint8("hotspare.key_previous", "Previous key id held", base.DEC),
    peer_session = ProtoField.uint64("hotspare.peer_session", "Receiver session accepted", base.HEX),
    h_vmin = ProtoField.uint16("hotspare.hello.version_min", "Oldest version spoken", base.DEC),
    h_vmax = ProtoField.uint16("hotspare.hello.version_max", "Newest version spoken", base.DEC),
    h_hb = ProtoField.uint32("hotspare.hello.heartbeat_ms", "Heartbeat interval (ms)", base.DEC),
    h_chal = ProtoField.uint64("hotspare.hello.challenge", "Challenge", base.HEX),
    h_echo = ProtoField.uint64("hotspare.hello.echo", "Echo", base.HEX),

    an_flags = ProtoField.uint32("hotspare.announce.creation_flags", "Creation flags", base.HEX),
    an_mode = ProtoField.uint32("hotspare.announce.update_mode", "Update mode", base.DEC, update_modes, 0x3),
    an_inc = ProtoField.uint64("hotspare.announce.incarnation", "Incarnation", base.HEX),
    an_size = ProtoField.uint64("hotspare.announce.checkpoint_size", "Checkpoint size", base.DEC),
    an_mss = ProtoField.uint64("hotspare.announce.max_section_size", "Max section size", base.DEC),
    an_ret = ProtoField.int64("hotspare.announce.retention_ns", "Retention (ns)", base.DEC),
    an_maxs = ProtoField.uint32("hotspare.announce.max_sections", "Max sections", base.DEC),
    an_idsz = ProtoField.uint32("hotspare.announce.max_section_id_size", "Max section id size", base.DEC),
    an_block = ProtoField.uint32("hotspare.announce.block_size", "Block size", base.DEC),
    an_nlen = ProtoField.uint32("hotspare.announce.name_len", "Name length", base.DEC),
    an_seq = ProtoField.uint64("hotspare.announce.commit_seq", "Change sequence", base.DEC),
    an_join = ProtoField.uint64("hotspare.announce.join", "Join id", base.HEX),
    an_name = ProtoField.string("hotspare.announce.name", "Name"),

    s_op = ProtoField.uint32("hotspare.section.op", "Operation", base.DEC, section_ops),
    s_idlen = ProtoField.uint32("hotspare.section.id_len", "Id length", base.DEC),
    s_doff = ProtoField.uint64("hotspare.section.data_offset", "Data offset", base.DEC),
    s_cap = ProtoField.uint64("hotspare.section.capacity", "Capacity", base.DEC),
    s_exp = ProtoField.int64("hotspare.section.expiration_ns", "Expiration (ns, realtime)", base.DEC),
    s_seq = ProtoField.uint64("hotspare.section.seq", "Sequence", base.DEC),
    s_size = ProtoField.uint64("hotspare.section.size", "Size", base.DEC),
    s_id = ProtoField.bytes("hotspare.section.id", "Id"),

    x_doff = ProtoField.uint64("hotspare.hashes.data_offset", "Data offset", base.DEC),
    x_cap = ProtoField.uint64("hotspare.hashes.capacity", "Capacity", base.DEC),
    x_idhash = ProtoField.uint64("hotspare.hashes.id_hash", "Section id XXH3-64", base.HEX),
    x_first = ProtoField.uint32("hotspare.hashes.first_block", "First block", base.DEC),
    x_count = ProtoField.uint32("hotspare.hashes.count", "Blocks", base.DEC),
    x_join = ProtoField.uint64("hotspare.hashes.join", "Join id (of the ANNOUNCE answered)", base.HEX),
    x_hash = ProtoField.uint64("hotspare.hashes.hash", "Block hash", base.HEX),

    r_sections = ProtoField.uint32("hotspare.resync_done.sections", "Sections installed", base.DEC),
    r_blocks = ProtoField.uint64("hotspare.resync_done.blocks_sent", "Blocks sent", base.DEC),

    rf_reason = ProtoField.uint8("hotspare.refused.reason", "Reason", base.DEC, refuse_reasons),
    rf_type = ProtoField.uint8("hotspare.refused.type", "Refused frame type", base.DEC, frame_types),
    rf_seq = ProtoField.uint64("hotspare.refused.link_seq", "Refused link sequence", base.DEC),
    rf_commit = ProtoField.uint64("hotspare.refused.commit_seq", "Commit sequence", base.DEC),
    rf_epoch = ProtoField.uint64("hotspare.refused.replica_epoch", "Replica epoch", base.DEC),
}
hs.fields = {}
for _, v in pairs(f) do table.insert(hs.fields, v) end

local e_short = ProtoExpert.new("hotspare.short", "Frame shorter than its header, body and tag", expert.group.MALFORMED,
    expert.severity.ERROR)
local e_body = ProtoExpert.new("hotspare.body_len", "Body length does not match the frame type", expert.group.MALFORMED,
    expert.severity.ERROR)
hs.experts = { e_short, e_body }

local pref_port = 7490
hs.prefs.port = Pref.uint("UDP port", pref_port, "ckptd's udp_port (the heuristic finds other ports too)")

local function u64(tvb, off) return tvb(off, 8):uint64() end

-- Each body: its fixed length (nil: at least `min`), and the function that fills the subtree and
-- returns the Info text.
local bodies = {}

-- DATA: 48-byte fixed part (no payload hash: the tag covers the body), then the payload.
local function data_body(b, t, flags)
    t:add(f.ckpt, b(0, 4)); t:add(f.slot, b(4, 4)); t:add(f.generation, b(8, 8))
    t:add(f.d_commit, b(16, 8)); t:add(f.d_offset, b(24, 8)); t:add(f.d_length, b(32, 4))
    t:add(f.d_fragment, b(36, 4)); t:add(f.d_size, b(40, 8))
    local len = b(32, 4):uint()
    local at = 48
    local runs = ""
    if bit32.band(flags, 4) ~= 0 and b:len() >= 52 then
        -- Version 4 run table: u32 count, then u64 offset + u32 length per run; the payload follows.
        local n = b(48, 4):uint()
        local rt = t:add(f.d_runs, b(48, 4))
        at = 52
        for i = 0, n - 1 do
            if b:len() < at + 12 then rt:add_proto_expert_info(e_body); break end
            local r = rt:add(b(at, 12), string.format("Run %u: %u B at %s", i, b(at + 8, 4):uint(), tostring(u64(b, at))))
            r:add(f.d_run_offset, b(at, 8)); r:add(f.d_run_length, b(at + 8, 4))
            at = at + 12
        end
        runs = string.format(" in %u runs", n)
    end
    if b:len() > at then t:add(f.d_payload, b(at)) end
    return string.format("ckpt %u slot %u commit %s frag %u, %u B at %s%s", b(0, 4):uint(), b(4, 4):uint(),
        tostring(u64(b, 16)), b(36, 4):uint(), len, tostring(u64(b, 24)), runs)
end

-- A batch (flag 0x10): u32 checkpoint id, u16 entry count, u16 reserved, then per entry u16 flags,
-- u16 reserved, u32 length and an ordinary DATA body (each a whole commit).
local function batch_body(b, t)
    t:add(f.ckpt, b(0, 4)); t:add(f.d_batch_entries, b(4, 2))
    local n = b(4, 2):uint()
    local at = 8
    local commits = {}
    for i = 0, n - 1 do
        if b:len() < at + 8 then t:add_proto_expert_info(e_body); break end
        local ef = b(at, 2):uint()
        local len = b(at + 4, 4):uint()
        if len < 48 or b:len() < at + 8 + len then t:add_proto_expert_info(e_body); break end
        local et = t:add(b(at, 8 + len), string.format("Commit %u of %u", i + 1, n))
        et:add(f.d_entry_flags, b(at, 2)); et:add(f.d_entry_len, b(at + 4, 4))
        local eb = b(at + 8, len):tvb()
        et:append_text(": " .. data_body(eb, et, ef))
        commits[#commits + 1] = tostring(u64(eb, 16))
        at = at + 8 + len
    end
    return string.format("batch of %u commits (ckpt %u, commits %s)", n, b(0, 4):uint(), table.concat(commits, ", "))
end

bodies[1] = { min = 48, fn = function(b, t, flags)
    if bit32.band(flags, 0x10) ~= 0 then return batch_body(b, t) end
    return data_body(b, t, flags)
end }
bodies[2] = { len = 32, fn = function(b, t)
    t:add(f.a_cum, b(0, 8)); t:add(f.a_sel, b(8, 8)); t:add(f.a_through, b(16, 8))
    return "through " .. tostring(u64(b, 0))
end }
bodies[3] = { len = 16, fn = function(b, t)
    t:add(f.n_first, b(0, 8)); t:add(f.n_last, b(8, 8))
    return tostring(u64(b, 0)) .. ".." .. tostring(u64(b, 8))
end }
bodies[4] = { len = 24, fn = function(b, t)
    t:add(f.boot, b(0, 8)); t:add(f.hb_ckpts, b(8, 4)); t:add(f.key_newest, b(12, 1))
    t:add(f.key_previous, b(13, 1)); t:add(f.peer_session, b(16, 8))
    return b(8, 4):uint() .. " checkpoints"
end }
bodies[5] = { len = 48, fn = function(b, t)
    t:add(f.h_vmin, b(0, 2)); t:add(f.h_vmax, b(2, 2)); t:add(f.h_hb, b(4, 4)); t:add(f.boot, b(8, 8))
    t:add(f.h_chal, b(16, 8)); t:add(f.h_echo, b(24, 8)); t:add(f.peer_session, b(32, 8))
    t:add(f.key_newest, b(40, 1)); t:add(f.key_previous, b(41, 1))
    return string.format("versions %u..%u", b(0, 2):uint(), b(2, 2):uint())
end }
bodies[6] = { min = 72, fn = function(b, t)
    t:add(f.ckpt, b(0, 4)); t:add(f.an_flags, b(4, 4)); t:add(f.an_mode, b(4, 4)); t:add(f.an_inc, b(8, 8))
    t:add(f.an_size, b(16, 8)); t:add(f.an_mss, b(24, 8)); t:add(f.an_ret, b(32, 8)); t:add(f.an_maxs, b(40, 4))
    t:add(f.an_idsz, b(44, 4)); t:add(f.an_block, b(48, 4)); t:add(f.an_nlen, b(52, 4)); t:add(f.an_seq, b(56, 8))
    t:add(f.an_join, b(64, 8))
    local name = ""
    if b:len() > 72 then
        t:add(f.an_name, b(72))
        name = b(72):string()
    end
    return string.format("ckpt %u \"%s\"", b(0, 4):uint(), name)
end }
bodies[7] = { min = 72, fn = function(b, t)
    t:add(f.ckpt, b(0, 4)); t:add(f.s_op, b(4, 4)); t:add(f.slot, b(8, 4)); t:add(f.s_idlen, b(12, 4))
    t:add(f.generation, b(16, 8)); t:add(f.s_doff, b(24, 8)); t:add(f.s_cap, b(32, 8)); t:add(f.s_exp, b(40, 8))
    t:add(f.s_seq, b(48, 8)); t:add(f.s_size, b(56, 8))
    if b:len() > 72 then t:add(f.s_id, b(72)) end
    return string.format("ckpt %u %s slot %u", b(0, 4):uint(), section_ops[b(4, 4):uint()] or "?", b(8, 4):uint())
end }
bodies[8] = { min = 56, fn = function(b, t)
    t:add(f.ckpt, b(0, 4)); t:add(f.slot, b(4, 4)); t:add(f.generation, b(8, 8)); t:add(f.x_doff, b(16, 8))
    t:add(f.x_cap, b(24, 8)); t:add(f.x_idhash, b(32, 8)); t:add(f.x_first, b(40, 4)); t:add(f.x_count, b(44, 4))
    t:add(f.x_join, b(48, 8))
    local n = b(44, 4):uint()
    for i = 0, n - 1 do
        if 56 + 8 * i + 8 > b:len() then break end
        t:add(f.x_hash, b(56 + 8 * i, 8))
    end
    return string.format("ckpt %u slot %u blocks %u+%u", b(0, 4):uint(), b(4, 4):uint(), b(40, 4):uint(), n)
end }
bodies[9] = { len = 16, fn = function(b, t)
    t:add(f.ckpt, b(0, 4)); t:add(f.r_sections, b(4, 4)); t:add(f.r_blocks, b(8, 8))
    return string.format("ckpt %u, %s blocks sent", b(0, 4):uint(), tostring(u64(b, 8)))
end }
bodies[10] = { len = 32, fn = function(b, t)
    t:add(f.ckpt, b(0, 4)); t:add(f.rf_reason, b(4, 1)); t:add(f.rf_type, b(5, 1)); t:add(f.rf_seq, b(8, 8))
    t:add(f.rf_commit, b(16, 8)); t:add(f.rf_epoch, b(24, 8))
    return string.format("ckpt %u: %s", b(0, 4):uint(), refuse_reasons[b(4, 1):uint()] or "?")
end }

local function dissect(tvb, pinfo, tree)
    if tvb:len() < HEADER or tvb(0, 4):uint() ~= MAGIC then return 0 end
    pinfo.cols.protocol = "Hotspare"
    local typ = tvb(5, 1):uint()
    local body_len = tvb(12, 2):uint()
    local key = tvb(14, 1):uint()
    local t = tree:add(hs, tvb(), "Hotspare replication, " .. (frame_types[typ] or ("type " .. typ)))
    t:add(f.magic, tvb(0, 4)); t:add(f.version, tvb(4, 1)); t:add(f.type, tvb(5, 1))
    local fl = t:add(f.flags, tvb(6, 2))
    fl:add(f.flag_last, tvb(6, 2)); fl:add(f.flag_overwrite, tvb(6, 2)); fl:add(f.flag_runs, tvb(6, 2))
    fl:add(f.flag_group, tvb(6, 2)); fl:add(f.flag_batch, tvb(6, 2))
    t:add(f.src_node, tvb(8, 2)); t:add(f.dst_node, tvb(10, 2)); t:add(f.body_len, tvb(12, 2))
    t:add(f.key_id, tvb(14, 1)):append_text(key == 0 and " (auth = none: XXH3-128 checksum)" or " (AES-256-GMAC)")
    t:add(f.epoch, tvb(16, 8)); t:add(f.link_seq, tvb(24, 8)); t:add(f.session, tvb(32, 8)); t:add(f.counter, tvb(40, 8))
    local info = string.format("%s %u -> %u", frame_types[typ] or ("type " .. typ), tvb(8, 2):uint(), tvb(10, 2):uint())
    local seq = u64(tvb, 24)
    if seq ~= UInt64(0) then info = info .. " seq " .. tostring(seq) end
    if tvb:len() < HEADER + body_len + TAG then
        t:add_proto_expert_info(e_short)
        pinfo.cols.info = info .. " [short]"
        return tvb:len()
    end
    local flags = tvb(6, 2):uint()
    local d = bodies[typ]
    if d then
        local b = tvb(HEADER, body_len):tvb()
        local bt = t:add(tvb(HEADER, body_len), (frame_types[typ] or "") .. " body")
        if (d.len and body_len ~= d.len) or (d.min and body_len < d.min) then
            bt:add_proto_expert_info(e_body)
        else
            info = info .. ": " .. d.fn(b, bt, flags)
        end
    end
    if typ == 1 and bit32.band(flags, 1) ~= 0 then info = info .. " [last]" end
    if typ == 1 and bit32.band(flags, 8) ~= 0 then info = info .. " [group continues]" end
    if typ == 1 and bit32.band(flags, 2) ~= 0 then info = info .. " [overwrite]" end
    t:add(f.tag, tvb(HEADER + body_len, TAG)):append_text(" (not verified here)")
    pinfo.cols.info = info
    return HEADER + body_len + TAG
end

function hs.dissector(tvb, pinfo, tree) return dissect(tvb, pinfo, tree) end

local function heuristic(tvb, pinfo, tree)
    if tvb:len() < HEADER or tvb(0, 4):uint() ~= MAGIC then return false end
    dissect(tvb, pinfo, tree)
    pinfo.conversation = hs
    return true
end

DissectorTable.get("udp.port"):add(pref_port, hs)
hs:register_heuristic("udp", heuristic)
