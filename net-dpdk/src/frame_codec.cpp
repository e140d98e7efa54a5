#include "ckpt/net/wire_format.hpp"

#include "be_bytes.hpp"
#include "ckpt/net/frame_auth.hpp"

// XXH3_state_t on the stack (no malloc per frame) needs the static-linking-only declarations.
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <cstdint>
#include <cstring>

namespace ckpt::net {

namespace {

using be::get16;
using be::get32;
using be::get64;
using be::put16;
using be::put32;
using be::put64;

constexpr std::size_t kIpOff = kEthHeader, kUdpOff = kIpOff + kIpv4Header, kHsOff = kUdpOff + kUdpHeader,
                      kBodyOff = kHsOff + kHotspareHeader;
static_assert(kBodyOff == kFrameBodyOffset);
constexpr std::size_t kHashField = 32;  // versions 1 and 2: frame_hash offset in their 40-byte header
constexpr std::size_t kV2Header = 40;   // versions 1 and 2
constexpr std::size_t kKeyIdField = 14; // version 3
constexpr std::size_t kSessionField = 32, kCounterField = 40;

/// The frame hash of versions 1 and 2: XXH3 over the 40-byte header with frame_hash taken as
/// zero, then the body (only to name a peer of those versions, identify_foreign_version).
std::uint64_t frame_hash(const std::byte* hs, std::span<const std::byte> body) {
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, hs, kHashField);
    const std::byte zero[8] = {};
    XXH3_64bits_update(&st, zero, 8);
    if (!body.empty()) XXH3_64bits_update(&st, body.data(), body.size());
    return XXH3_64bits_digest(&st);
}

} // namespace

std::string_view reject_name(Reject r) {
    switch (r) {
    case Reject::kNone:
        return "ok";
    case Reject::kTooShort:
        return "too short";
    case Reject::kNotIpv4:
        return "not IPv4";
    case Reject::kNotUdp:
        return "not UDP";
    case Reject::kWrongPort:
        return "wrong UDP port";
    case Reject::kBadLength:
        return "inconsistent lengths";
    case Reject::kBadMagic:
        return "bad magic";
    case Reject::kBadVersion:
        return "unsupported version";
    case Reject::kBadHash:
        return "bad frame MAC or checksum";
    case Reject::kUnknownType:
        return "unknown frame type";
    case Reject::kBadBody:
        return "malformed body";
    case Reject::kUnknownKey:
        return "unknown key";
    case Reject::kReplayed:
        return "replayed";
    case Reject::kStaleSession:
        return "stale session";
    case Reject::kWrongSource:
        return "wrong source address";
    }
    return "unknown";
}

std::uint16_t ipv4_checksum(std::span<const std::byte> hdr) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < hdr.size(); i += 2) sum += get16(hdr.data() + i);
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

namespace {

/// Ethernet + IPv4 + UDP headers for a UDP payload of `payload_len` bytes; `f` has room for them.
void write_eth_ip_udp(std::byte* f, const Endpoint& src, const Endpoint& dst, std::size_t payload_len,
                      std::uint16_t ip_id) {
    std::memcpy(f, dst.mac.data(), 6);
    std::memcpy(f + 6, src.mac.data(), 6);
    put16(f + 12, 0x0800);
    std::byte* ip = f + kIpOff;
    std::memset(ip, 0, kIpv4Header);
    ip[0] = std::byte{0x45};
    put16(ip + 2, static_cast<std::uint16_t>(kIpv4Header + kUdpHeader + payload_len));
    put16(ip + 4, ip_id); // any value: DF is set, so it never identifies fragments
    put16(ip + 6, 0x4000);
    ip[8] = std::byte{64};
    ip[9] = std::byte{17};
    put32(ip + 12, src.ip);
    put32(ip + 16, dst.ip);
    put16(ip + 10, ipv4_checksum({ip, kIpv4Header}));
    std::byte* udp = f + kUdpOff;
    put16(udp, src.port);
    put16(udp + 2, dst.port);
    put16(udp + 4, static_cast<std::uint16_t>(kUdpHeader + payload_len));
    put16(udp + 6, 0); // no UDP checksum (allowed on IPv4): frame_hash covers what matters
}

} // namespace

std::size_t encode_frame_unsealed(std::span<std::byte> out, const Endpoint& src, const Endpoint& dst,
                                  const FrameHeader& h, std::span<const std::byte> body) {
    const std::size_t total = kBodyOff + body.size() + kFrameTrailer;
    if (total > out.size() || total > kMaxFrame || body.size() > 0xFFFF) return 0;
    std::byte* f = out.data();
    write_eth_ip_udp(f, src, dst, kHotspareHeader + body.size() + kFrameTrailer,
                     static_cast<std::uint16_t>(h.link_seq));
    std::byte* hs = f + kHsOff;
    put32(hs, kWireMagic);
    hs[4] = std::byte{kWireVersion};
    hs[5] = static_cast<std::byte>(h.type);
    put16(hs + 6, h.flags);
    put16(hs + 8, h.src_node);
    put16(hs + 10, h.dst_node);
    put16(hs + 12, static_cast<std::uint16_t>(body.size()));
    hs[kKeyIdField] = std::byte{h.key_id};
    hs[15] = std::byte{0};
    put64(hs + 16, h.epoch);
    put64(hs + 24, h.link_seq);
    put64(hs + kSessionField, h.session);
    put64(hs + kCounterField, h.counter);
    // A body built in place is not copied again; any other overlap is allowed too (memmove).
    if (!body.empty() && body.data() != f + kBodyOff) std::memmove(f + kBodyOff, body.data(), body.size());
    std::memset(f + kBodyOff + body.size(), 0, kFrameTrailer);
    return total;
}

bool seal_frame(std::span<std::byte> frame, FrameAuth& auth, std::uint8_t key_id, std::uint64_t session,
                std::uint64_t counter) {
    if (frame.size() < kBodyOff + kFrameTrailer) return false;
    std::byte* hs = frame.data() + kHsOff;
    const std::size_t body_len = get16(hs + 12);
    if (kBodyOff + body_len + kFrameTrailer != frame.size()) return false;
    hs[kKeyIdField] = std::byte{key_id};
    put64(hs + kSessionField, session);
    put64(hs + kCounterField, counter);
    return auth.seal(hs, kHotspareHeader + body_len, key_id, get16(hs + 8), session, counter,
                     hs + kHotspareHeader + body_len);
}

namespace {
FrameAuth& unkeyed() {
    static FrameAuth a; // no key: the checksum of auth = none (seal/verify with key 0 keep no state)
    return a;
}
} // namespace

std::size_t encode_frame(std::span<std::byte> out, const Endpoint& src, const Endpoint& dst, const FrameHeader& h,
                         std::span<const std::byte> body) {
    const std::size_t n = encode_frame_unsealed(out, src, dst, h, body);
    if (n == 0) return 0;
    return seal_frame(out.first(n), unkeyed(), 0, h.session, h.counter) ? n : 0;
}

std::size_t wrap_udp_payload(std::span<std::byte> out, const Endpoint& src, const Endpoint& dst,
                             std::span<const std::byte> payload, std::uint16_t ip_id) {
    const std::size_t total = kUdpPayloadOffset + payload.size();
    if (total > out.size() || total > kMaxFrame) return 0;
    // Move the payload first: it may overlap the header bytes we are about to write.
    if (!payload.empty() && payload.data() != out.data() + kUdpPayloadOffset)
        std::memmove(out.data() + kUdpPayloadOffset, payload.data(), payload.size());
    write_eth_ip_udp(out.data(), src, dst, payload.size(), ip_id);
    return total;
}

Reject unwrap_udp_payload(std::span<const std::byte> frame, UdpDatagram& out) {
    if (frame.size() < kUdpPayloadOffset)
        return frame.size() >= kEthHeader && get16(frame.data() + 12) != 0x0800 ? Reject::kNotIpv4 : Reject::kTooShort;
    const std::byte* f = frame.data();
    if (get16(f + 12) != 0x0800) return Reject::kNotIpv4;
    const std::byte* ip = f + kIpOff;
    if (std::to_integer<unsigned>(ip[0]) != 0x45) return Reject::kNotIpv4;
    if (std::to_integer<unsigned>(ip[9]) != 17 || (get16(ip + 6) & 0x3FFF) != 0) return Reject::kNotUdp;
    if (ipv4_checksum({ip, kIpv4Header}) != 0) return Reject::kBadHash;
    const std::size_t ip_len = get16(ip + 2);
    if (ip_len < kIpv4Header + kUdpHeader || ip_len > frame.size() - kEthHeader) return Reject::kBadLength;
    const std::byte* udp = f + kUdpOff;
    if (get16(udp + 4) != ip_len - kIpv4Header) return Reject::kBadLength;
    UdpDatagram d;
    std::memcpy(d.dst.mac.data(), f, 6);
    std::memcpy(d.src.mac.data(), f + 6, 6);
    d.src.ip = get32(ip + 12);
    d.dst.ip = get32(ip + 16);
    d.src.port = get16(udp);
    d.dst.port = get16(udp + 2);
    d.payload = frame.subspan(kUdpPayloadOffset, ip_len - kIpv4Header - kUdpHeader);
    out = d;
    return Reject::kNone;
}

Reject decode_frame(std::span<const std::byte> frame, std::uint16_t udp_port, DecodedFrame& out) {
    return decode_frame(frame, udp_port, out, &unkeyed());
}

Reject decode_frame(std::span<const std::byte> frame, std::uint16_t udp_port, DecodedFrame& out, FrameAuth* auth) {
    // Magic and version first (8 bytes of the Hotspare header): a frame of another version,
    // shorter than ours, is refused as kBadVersion, so its sender can be named.
    if (frame.size() < kHsOff + 8)
        return frame.size() >= kEthHeader && get16(frame.data() + 12) != 0x0800 ? Reject::kNotIpv4 : Reject::kTooShort;
    const std::byte* f = frame.data();
    if (get16(f + 12) != 0x0800) return Reject::kNotIpv4;
    const std::byte* ip = f + kIpOff;
    if (std::to_integer<unsigned>(ip[0]) != 0x45) return Reject::kNotIpv4; // IPv4 without options only
    if (std::to_integer<unsigned>(ip[9]) != 17) return Reject::kNotUdp;
    if ((get16(ip + 6) & 0x3FFF) != 0) return Reject::kNotUdp; // a fragment: we never send them
    if (ipv4_checksum({ip, kIpv4Header}) != 0) return Reject::kBadHash;
    const std::size_t ip_len = get16(ip + 2);
    // Ethernet pads short frames: the IP length may be shorter than the frame, never longer.
    if (ip_len > frame.size() - kEthHeader) return Reject::kBadLength;
    // No version's header is shorter than 40 bytes (1 and 2: 40, 3: 48 and a 16-byte tag).
    if (ip_len < kIpv4Header + kUdpHeader + kV2Header) return Reject::kTooShort;
    const std::byte* udp = f + kUdpOff;
    if (get16(udp + 2) != udp_port) return Reject::kWrongPort;
    const std::size_t udp_len = get16(udp + 4);
    if (udp_len != ip_len - kIpv4Header) return Reject::kBadLength;
    const std::byte* hs = f + kHsOff;
    if (get32(hs) != kWireMagic) return Reject::kBadMagic;
    if (std::to_integer<unsigned>(hs[4]) != kWireVersion) return Reject::kBadVersion;
    if (ip_len < kIpv4Header + kUdpHeader + kHotspareHeader + kFrameTrailer) return Reject::kTooShort;
    const std::size_t body_len = get16(hs + 12);
    if (body_len != udp_len - kUdpHeader - kHotspareHeader - kFrameTrailer) return Reject::kBadLength;
    std::span<const std::byte> body{f + kBodyOff, body_len};
    const std::uint8_t key_id = std::to_integer<std::uint8_t>(hs[kKeyIdField]);
    const std::uint16_t src_node = get16(hs + 8);
    const std::uint64_t session = get64(hs + kSessionField), counter = get64(hs + kCounterField);
    if (auth) {
        // Keyed frame on a node without that key, or an unkeyed one on a keyed node.
        if (key_id == 0 ? auth->keyed() : !auth->has_key(key_id)) return Reject::kUnknownKey;
        if (!auth->verify(hs, kHotspareHeader + body_len, key_id, src_node, session, counter, f + kBodyOff + body_len))
            return Reject::kBadHash;
    }
    const auto type = static_cast<FrameType>(std::to_integer<unsigned>(hs[5]));
    if (type < FrameType::kData || static_cast<std::uint8_t>(type) > kMaxFrameType) return Reject::kUnknownType;
    DecodedFrame d;
    std::memcpy(d.dst.mac.data(), f, 6);
    std::memcpy(d.src.mac.data(), f + 6, 6);
    d.src.ip = get32(ip + 12);
    d.dst.ip = get32(ip + 16);
    d.src.port = get16(udp);
    d.dst.port = get16(udp + 2);
    d.header.type = type;
    d.header.flags = get16(hs + 6);
    d.header.src_node = src_node;
    d.header.dst_node = get16(hs + 10);
    d.header.epoch = get64(hs + 16);
    d.header.link_seq = get64(hs + 24);
    d.header.key_id = key_id;
    d.header.session = session;
    d.header.counter = counter;
    d.body = body;
    out = d;
    return Reject::kNone;
}

bool identify_foreign_version(std::span<const std::byte> frame, std::uint16_t udp_port, ForeignVersion& out,
                              FrameAuth* auth) {
    if (frame.size() < kHsOff + kV2Header || get16(frame.data() + 12) != 0x0800) return false;
    const std::byte* f = frame.data();
    const std::byte* ip = f + kIpOff;
    if (std::to_integer<unsigned>(ip[0]) != 0x45 || std::to_integer<unsigned>(ip[9]) != 17 ||
        (get16(ip + 6) & 0x3FFF) != 0 || ipv4_checksum({ip, kIpv4Header}) != 0)
        return false;
    const std::size_t ip_len = get16(ip + 2);
    if (ip_len < kIpv4Header + kUdpHeader + kV2Header || ip_len > frame.size() - kEthHeader) return false;
    const std::byte* udp = f + kUdpOff;
    if (get16(udp + 2) != udp_port || get16(udp + 4) != ip_len - kIpv4Header) return false;
    const std::byte* hs = f + kHsOff;
    const unsigned version = std::to_integer<unsigned>(hs[4]);
    if (get32(hs) != kWireMagic || version == kWireVersion) return false;
    const std::size_t hs_len = ip_len - kIpv4Header - kUdpHeader; // header, body and (v3+) tag
    const std::size_t body_len = get16(hs + 12);
    if (version < 3) {
        if (body_len != hs_len - kV2Header) return false;
        if (get64(hs + kHashField) != frame_hash(hs, {hs + kV2Header, body_len})) return false;
    } else {
        if (hs_len < kHotspareHeader + kFrameTrailer || body_len != hs_len - kHotspareHeader - kFrameTrailer)
            return false;
        FrameAuth& a = auth ? *auth : unkeyed();
        const std::uint8_t key_id = std::to_integer<std::uint8_t>(hs[kKeyIdField]);
        if (key_id == 0 ? a.keyed() : !a.has_key(key_id)) return false;
        if (!a.verify(hs, kHotspareHeader + body_len, key_id, get16(hs + 8), get64(hs + kSessionField),
                      get64(hs + kCounterField), hs + kHotspareHeader + body_len))
            return false;
    }
    out.version = static_cast<std::uint8_t>(version);
    out.src_node = get16(hs + 8);
    out.dst_node = get16(hs + 10);
    return true;
}

namespace {

/// The DATA body's fixed part (kDataBodyFixed bytes), shared by the one-run and the run-table forms.
void put_data_fixed(std::byte* p, const DataBody& d) {
    put32(p, d.checkpoint_id);
    put32(p + 4, d.slot);
    put64(p + 8, d.generation);
    put64(p + 16, d.commit_seq);
    put64(p + 24, d.offset);
    put32(p + 32, d.length);
    put32(p + 36, d.fragment);
    put64(p + 40, d.section_size);
}

DataBody get_data_fixed(const std::byte* p) {
    DataBody t;
    t.checkpoint_id = get32(p);
    t.slot = get32(p + 4);
    t.generation = get64(p + 8);
    t.commit_seq = get64(p + 16);
    t.offset = get64(p + 24);
    t.length = get32(p + 32);
    t.fragment = get32(p + 36);
    t.section_size = get64(p + 40);
    return t;
}

} // namespace

std::size_t encode_data_body(std::span<std::byte> out, const DataBody& d, std::span<const std::byte> payload) {
    const std::size_t n = kDataBodyFixed + payload.size();
    if (n > out.size() || payload.size() != d.length) return 0;
    std::byte* p = out.data();
    put_data_fixed(p, d);
    if (!payload.empty()) std::memcpy(p + kDataBodyFixed, payload.data(), payload.size());
    return n;
}

Reject decode_data_body(std::span<const std::byte> body, DataBody& d, std::span<const std::byte>& payload) {
    if (body.size() < kDataBodyFixed) return Reject::kBadBody;
    const std::byte* p = body.data();
    DataBody t = get_data_fixed(p);
    if (t.length != body.size() - kDataBodyFixed) return Reject::kBadBody;
    std::span<const std::byte> pl = body.subspan(kDataBodyFixed);
    d = t;
    payload = pl;
    return Reject::kNone;
}

std::size_t encode_data_runs_body(std::span<std::byte> out, DataBody& d, std::span<const DataRun> runs,
                                  std::span<const std::byte> section) {
    if (runs.empty() || runs.size() > kMaxDataRuns) return 0;
    std::uint64_t total = 0;
    for (const DataRun& r : runs) {
        if (r.length == 0 || r.offset > section.size() || r.length > section.size() - r.offset) return 0;
        total += r.length;
    }
    const std::size_t table = kDataRunCount + kDataRunEntry * runs.size();
    const std::size_t n = kDataBodyFixed + table + total;
    if (n > out.size() || total > UINT32_MAX) return 0;
    std::byte* p = out.data();
    std::byte* t = p + kDataBodyFixed;
    put32(t, static_cast<std::uint32_t>(runs.size()));
    std::byte* pl = t + table;
    std::byte* w = pl;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        put64(t + kDataRunCount + kDataRunEntry * i, runs[i].offset);
        put32(t + kDataRunCount + kDataRunEntry * i + 8, runs[i].length);
        std::memcpy(w, section.data() + runs[i].offset, runs[i].length);
        w += runs[i].length;
    }
    d.offset = runs[0].offset;
    d.length = static_cast<std::uint32_t>(total);
    put_data_fixed(p, d);
    return n;
}

Reject decode_data_runs_body(std::span<const std::byte> body, DataBody& d, std::span<DataRun> runs, std::size_t& n,
                             std::span<const std::byte>& payload) {
    if (body.size() < kDataBodyFixed + kDataRunCount) return Reject::kBadBody;
    const std::byte* p = body.data();
    DataBody t = get_data_fixed(p);
    const std::byte* tp = p + kDataBodyFixed;
    const std::uint32_t count = get32(tp);
    if (count == 0 || count > kMaxDataRuns || count > runs.size()) return Reject::kBadBody;
    const std::size_t table = kDataRunCount + kDataRunEntry * std::size_t{count};
    if (body.size() < kDataBodyFixed + table) return Reject::kBadBody;
    if (t.length != body.size() - kDataBodyFixed - table) return Reject::kBadBody;
    std::uint64_t total = 0, end = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        DataRun r;
        r.offset = get64(tp + kDataRunCount + kDataRunEntry * i);
        r.length = get32(tp + kDataRunCount + kDataRunEntry * i + 8);
        if (r.length == 0 || (i > 0 && r.offset < end) || r.offset > UINT64_MAX - r.length) return Reject::kBadBody;
        end = r.offset + r.length;
        total += r.length;
        runs[i] = r;
    }
    if (total != t.length || runs[0].offset != t.offset) return Reject::kBadBody;
    std::span<const std::byte> pl = body.subspan(kDataBodyFixed + table);
    d = t;
    n = count;
    payload = pl;
    return Reject::kNone;
}

void put_batch_header(std::byte* out, std::uint32_t checkpoint_id, std::uint16_t entries) {
    put32(out, checkpoint_id);
    put16(out + 4, entries);
    put16(out + 6, 0);
}

void put_batch_entry_header(std::byte* out, std::uint16_t flags, std::uint32_t body_len) {
    put16(out, flags);
    put16(out + 2, 0);
    put32(out + 4, body_len);
}

Reject decode_data_batch(std::span<const std::byte> body, std::span<DataBatchEntry> out, std::size_t& n) {
    if (body.size() < kBatchHeader) return Reject::kBadBody;
    const std::uint32_t checkpoint = get32(body.data());
    const std::size_t count = get16(body.data() + 4);
    if (get16(body.data() + 6) != 0 || count < 2 || count > kMaxBatchEntries || count > out.size())
        return Reject::kBadBody;
    std::size_t at = kBatchHeader;
    DataRun runs_seen[kMaxDataRuns]; // decode_data_runs_body's table, not kept
    for (std::size_t i = 0; i < count; ++i) {
        if (body.size() - at < kBatchEntryHeader) return Reject::kBadBody;
        const std::byte* h = body.data() + at;
        const std::uint16_t flags = get16(h);
        const std::uint32_t len = get32(h + 4);
        if (get16(h + 2) != 0) return Reject::kBadBody;
        // Each entry is a whole commit in one fragment, never part of a write group or a batch.
        if (!(flags & kFlagLastFragment) || (flags & ~(kFlagLastFragment | kFlagOverwrite | kFlagRuns)) != 0)
            return Reject::kBadBody;
        at += kBatchEntryHeader;
        if (len > body.size() - at) return Reject::kBadBody;
        const std::span<const std::byte> eb = body.subspan(at, len);
        DataBody d;
        std::span<const std::byte> payload;
        std::size_t k = 0;
        const Reject r = (flags & kFlagRuns) ? decode_data_runs_body(eb, d, runs_seen, k, payload)
                                             : decode_data_body(eb, d, payload);
        if (r != Reject::kNone || d.fragment != 0 || d.checkpoint_id != checkpoint) return Reject::kBadBody;
        out[i] = DataBatchEntry{flags, eb};
        at += len;
    }
    if (at != body.size()) return Reject::kBadBody; // bytes after the last entry
    n = count;
    return Reject::kNone;
}

std::size_t encode_ack_body(std::span<std::byte> out, const AckBody& a) {
    if (out.size() < kAckBody) return 0;
    std::byte* p = out.data();
    put64(p, a.cumulative);
    put64(p + 8, a.selective);
    put64(p + 16, a.sent_through);
    put64(p + 24, 0);
    return kAckBody;
}

Reject decode_ack_body(std::span<const std::byte> body, AckBody& a) {
    if (body.size() != kAckBody) return Reject::kBadBody;
    const std::byte* p = body.data();
    a.cumulative = get64(p);
    a.selective = get64(p + 8);
    a.sent_through = get64(p + 16);
    a.reserved = 0;
    return Reject::kNone;
}

std::size_t encode_hello_body(std::span<std::byte> out, const HelloBody& h) {
    if (out.size() < kHelloBody) return 0;
    std::byte* p = out.data();
    put16(p, h.version_min);
    put16(p + 2, h.version_max);
    put32(p + 4, h.heartbeat_ms);
    put64(p + 8, h.boot_id);
    put64(p + 16, h.challenge);
    put64(p + 24, h.echo);
    put64(p + 32, h.peer_session);
    p[40] = std::byte{h.key_newest};
    p[41] = std::byte{h.key_previous};
    put16(p + 42, 0);
    put32(p + 44, 0);
    return kHelloBody;
}

Reject decode_hello_body(std::span<const std::byte> body, HelloBody& h) {
    if (body.size() != kHelloBody) return Reject::kBadBody;
    const std::byte* p = body.data();
    HelloBody t;
    t.version_min = get16(p);
    t.version_max = get16(p + 2);
    t.heartbeat_ms = get32(p + 4);
    t.boot_id = get64(p + 8);
    t.challenge = get64(p + 16);
    t.echo = get64(p + 24);
    t.peer_session = get64(p + 32);
    t.key_newest = std::to_integer<std::uint8_t>(p[40]);
    t.key_previous = std::to_integer<std::uint8_t>(p[41]);
    if (t.version_min > t.version_max) return Reject::kBadBody;
    h = t;
    return Reject::kNone;
}

std::size_t encode_heartbeat_body(std::span<std::byte> out, const HeartbeatBody& h) {
    if (out.size() < kHeartbeatBody) return 0;
    std::byte* p = out.data();
    put64(p, h.boot_id);
    put32(p + 8, h.checkpoints);
    p[12] = std::byte{h.key_newest};
    p[13] = std::byte{h.key_previous};
    put16(p + 14, 0);
    put64(p + 16, h.peer_session);
    return kHeartbeatBody;
}

Reject decode_heartbeat_body(std::span<const std::byte> body, HeartbeatBody& h) {
    if (body.size() != kHeartbeatBody) return Reject::kBadBody;
    const std::byte* p = body.data();
    HeartbeatBody t;
    t.boot_id = get64(p);
    t.checkpoints = get32(p + 8);
    t.key_newest = std::to_integer<std::uint8_t>(p[12]);
    t.key_previous = std::to_integer<std::uint8_t>(p[13]);
    t.peer_session = get64(p + 16);
    h = t;
    return Reject::kNone;
}

} // namespace ckpt::net
