#include "ckpt/net/wire_format.hpp"

#include "be_bytes.hpp"

// XXH3_state_t on the stack (no malloc per frame) needs the static-linking-only declarations.
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

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
constexpr std::size_t kHashField = 32; // frame_hash offset in the Hotspare header

/// XXH3 over the Hotspare header with frame_hash taken as zero, then the body.
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
        return "frame hash mismatch";
    case Reject::kUnknownType:
        return "unknown frame type";
    case Reject::kBadBody:
        return "malformed body";
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

std::size_t encode_frame(std::span<std::byte> out, const Endpoint& src, const Endpoint& dst, const FrameHeader& h,
                         std::span<const std::byte> body) {
    const std::size_t total = kBodyOff + body.size();
    if (total > out.size() || total > kMaxFrame || body.size() > 0xFFFF) return 0;
    std::byte* f = out.data();
    write_eth_ip_udp(f, src, dst, kHotspareHeader + body.size(), static_cast<std::uint16_t>(h.link_seq));
    std::byte* hs = f + kHsOff;
    put32(hs, kWireMagic);
    hs[4] = std::byte{kWireVersion};
    hs[5] = static_cast<std::byte>(h.type);
    put16(hs + 6, h.flags);
    put16(hs + 8, h.src_node);
    put16(hs + 10, h.dst_node);
    put16(hs + 12, static_cast<std::uint16_t>(body.size()));
    put16(hs + 14, 0);
    put64(hs + 16, h.epoch);
    put64(hs + 24, h.link_seq);
    if (!body.empty()) std::memcpy(f + kBodyOff, body.data(), body.size());
    put64(hs + kHashField, frame_hash(hs, {f + kBodyOff, body.size()}));
    return total;
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
    if (frame.size() < kBodyOff)
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
    if (ip_len < kIpv4Header + kUdpHeader + kHotspareHeader || ip_len > frame.size() - kEthHeader)
        return Reject::kBadLength;
    const std::byte* udp = f + kUdpOff;
    if (get16(udp + 2) != udp_port) return Reject::kWrongPort;
    const std::size_t udp_len = get16(udp + 4);
    if (udp_len != ip_len - kIpv4Header) return Reject::kBadLength;
    const std::byte* hs = f + kHsOff;
    if (get32(hs) != kWireMagic) return Reject::kBadMagic;
    if (std::to_integer<unsigned>(hs[4]) != kWireVersion) return Reject::kBadVersion;
    const std::size_t body_len = get16(hs + 12);
    if (body_len != udp_len - kUdpHeader - kHotspareHeader) return Reject::kBadLength;
    std::span<const std::byte> body{f + kBodyOff, body_len};
    if (get64(hs + kHashField) != frame_hash(hs, body)) return Reject::kBadHash;
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
    d.header.src_node = get16(hs + 8);
    d.header.dst_node = get16(hs + 10);
    d.header.epoch = get64(hs + 16);
    d.header.link_seq = get64(hs + 24);
    d.body = body;
    out = d;
    return Reject::kNone;
}

bool identify_foreign_version(std::span<const std::byte> frame, std::uint16_t udp_port, ForeignVersion& out) {
    if (frame.size() < kBodyOff || get16(frame.data() + 12) != 0x0800) return false;
    const std::byte* f = frame.data();
    const std::byte* ip = f + kIpOff;
    if (std::to_integer<unsigned>(ip[0]) != 0x45 || std::to_integer<unsigned>(ip[9]) != 17 ||
        (get16(ip + 6) & 0x3FFF) != 0 || ipv4_checksum({ip, kIpv4Header}) != 0)
        return false;
    const std::size_t ip_len = get16(ip + 2);
    if (ip_len < kIpv4Header + kUdpHeader + kHotspareHeader || ip_len > frame.size() - kEthHeader) return false;
    const std::byte* udp = f + kUdpOff;
    if (get16(udp + 2) != udp_port || get16(udp + 4) != ip_len - kIpv4Header) return false;
    const std::byte* hs = f + kHsOff;
    const unsigned version = std::to_integer<unsigned>(hs[4]);
    if (get32(hs) != kWireMagic || version == kWireVersion) return false;
    const std::size_t body_len = get16(hs + 12);
    if (body_len != ip_len - kIpv4Header - kUdpHeader - kHotspareHeader) return false;
    if (get64(hs + kHashField) != frame_hash(hs, {f + kBodyOff, body_len})) return false;
    out.version = static_cast<std::uint8_t>(version);
    out.src_node = get16(hs + 8);
    out.dst_node = get16(hs + 10);
    return true;
}

std::size_t encode_data_body(std::span<std::byte> out, const DataBody& d, std::span<const std::byte> payload) {
    const std::size_t n = kDataBodyFixed + payload.size();
    if (n > out.size() || payload.size() != d.length) return 0;
    std::byte* p = out.data();
    put32(p, d.checkpoint_id);
    put32(p + 4, d.slot);
    put64(p + 8, d.generation);
    put64(p + 16, d.commit_seq);
    put64(p + 24, d.offset);
    put32(p + 32, d.length);
    put32(p + 36, d.fragment);
    put64(p + 40, d.section_size);
    put64(p + 48, d.payload_hash);
    if (!payload.empty()) std::memcpy(p + kDataBodyFixed, payload.data(), payload.size());
    return n;
}

Reject decode_data_body(std::span<const std::byte> body, DataBody& d, std::span<const std::byte>& payload) {
    if (body.size() < kDataBodyFixed) return Reject::kBadBody;
    const std::byte* p = body.data();
    DataBody t;
    t.checkpoint_id = get32(p);
    t.slot = get32(p + 4);
    t.generation = get64(p + 8);
    t.commit_seq = get64(p + 16);
    t.offset = get64(p + 24);
    t.length = get32(p + 32);
    t.fragment = get32(p + 36);
    t.section_size = get64(p + 40);
    t.payload_hash = get64(p + 48);
    if (t.length != body.size() - kDataBodyFixed) return Reject::kBadBody;
    std::span<const std::byte> pl = body.subspan(kDataBodyFixed);
    if (XXH3_64bits(pl.data(), pl.size()) != t.payload_hash) return Reject::kBadBody;
    d = t;
    payload = pl;
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
    return kHelloBody;
}

Reject decode_hello_body(std::span<const std::byte> body, HelloBody& h) {
    if (body.size() != kHelloBody) return Reject::kBadBody;
    const std::byte* p = body.data();
    HelloBody t{get16(p), get16(p + 2), get32(p + 4), get64(p + 8)};
    if (t.version_min > t.version_max) return Reject::kBadBody;
    h = t;
    return Reject::kNone;
}

std::size_t encode_heartbeat_body(std::span<std::byte> out, const HeartbeatBody& h) {
    if (out.size() < kHeartbeatBody) return 0;
    std::byte* p = out.data();
    put64(p, h.boot_id);
    put32(p + 8, h.checkpoints);
    put32(p + 12, 0);
    return kHeartbeatBody;
}

Reject decode_heartbeat_body(std::span<const std::byte> body, HeartbeatBody& h) {
    if (body.size() != kHeartbeatBody) return Reject::kBadBody;
    const std::byte* p = body.data();
    h.boot_id = get64(p);
    h.checkpoints = get32(p + 8);
    h.reserved = 0;
    return Reject::kNone;
}

} // namespace ckpt::net
