#pragma once
/// Hotspare's replication frames: UDP/IPv4 over Ethernet, so tcpdump/tshark show them, with a
/// small versioned header. Pure byte layout and codec, no DPDK: the DPDK ports and the kernel-UDP
/// fallback carry the same frames. All multi-byte fields are big-endian (network order).
///
///   +---------------- Ethernet II (14) ----------------+
///   | dst MAC (6) | src MAC (6) | ethertype 0x0800      |
///   +---------------- IPv4 (20, no options) -----------+
///   | 0x45 | tos | total_len | id | DF | ttl 64 | 17 | checksum | src | dst |
///   +---------------- UDP (8) -------------------------+
///   | src port | dst port (7490) | length | checksum 0 (integrity: frame_hash below) |
///   +---------------- Hotspare header (40) ------------+
///    0 u32 magic "HSPR"      4 u8 version   5 u8 type   6 u16 flags
///    8 u16 src_node         10 u16 dst_node             12 u16 body_len   14 u16 reserved (0)
///   16 u64 epoch            24 u64 link_seq             32 u64 frame_hash
///   +---------------- body (body_len) -----------------+
///   | type-specific fixed part, then payload             |
///   +--------------------------------------------------+
///
/// frame_hash = XXH3-64 over the Hotspare header (with frame_hash zeroed) and the body: a frame
/// that fails it is dropped and counted, never applied.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ckpt::net {

inline constexpr std::uint32_t kWireMagic = 0x4853'5052; // "HSPR"
inline constexpr std::uint8_t kWireVersion = 1;
inline constexpr std::uint16_t kDefaultUdpPort = 7490;
inline constexpr std::size_t kEthHeader = 14, kIpv4Header = 20, kUdpHeader = 8, kHotspareHeader = 40;
inline constexpr std::size_t kFrameOverhead = kEthHeader + kIpv4Header + kUdpHeader + kHotspareHeader; // 82
inline constexpr std::size_t kMaxFrame = 9000 + kEthHeader;                                            ///< jumbo MTU

enum class FrameType : std::uint8_t {
    kData = 1,      ///< a block range of one section, part of one commit
    kAck = 2,       ///< cumulative + selective acknowledgement of link sequence numbers
    kNack = 3,      ///< a gap the receiver wants again
    kHeartbeat = 4, ///< liveness and the sender's state
    kHello = 5,     ///< protocol versions and boot id, on link up
};

/// FrameHeader::flags
inline constexpr std::uint16_t kFlagLastFragment = 0x1; ///< DATA: the commit is complete with this frame

struct Endpoint {
    std::array<std::uint8_t, 6> mac{};
    std::uint32_t ip = 0; ///< host order
    std::uint16_t port = kDefaultUdpPort;
};

/// The decoded common header (host order).
struct FrameHeader {
    FrameType type{};
    std::uint16_t flags = 0;
    std::uint16_t src_node = 0, dst_node = 0;
    std::uint64_t epoch = 0;
    std::uint64_t link_seq = 0;
};

/// DATA body (fixed part, 48 bytes), followed by `length` payload bytes.
struct DataBody {
    std::uint32_t checkpoint_id = 0;
    std::uint32_t slot = 0;
    std::uint64_t generation = 0;
    std::uint64_t commit_seq = 0;
    std::uint64_t offset = 0;
    std::uint32_t length = 0;
    std::uint16_t fragment = 0, fragments = 1;
    std::uint64_t payload_hash = 0; ///< XXH3-64 of the payload: compared with the replica's block hash
};
inline constexpr std::size_t kDataBodyFixed = 48;

/// ACK body (32 bytes).
struct AckBody {
    std::uint64_t cumulative = 0; ///< every link_seq <= this arrived
    std::uint64_t selective = 0;  ///< bit i: link_seq cumulative + 1 + i arrived too
    std::uint64_t applied_commit_seq = 0;
    std::uint32_t checkpoint_id = 0;
    std::uint32_t reserved = 0;
};
inline constexpr std::size_t kAckBody = 32;

/// HELLO body (16 bytes): sent on link-up and to a peer not yet heard from.
struct HelloBody {
    std::uint16_t version_min = kWireVersion; ///< oldest frame version this node speaks
    std::uint16_t version_max = kWireVersion; ///< newest
    std::uint32_t heartbeat_ms = 0;           ///< the sender's heartbeat interval
    std::uint64_t boot_id = 0;                ///< changes at every engine start: tells a restart apart
};
inline constexpr std::size_t kHelloBody = 16;

/// HEARTBEAT body (16 bytes).
struct HeartbeatBody {
    std::uint64_t boot_id = 0;
    std::uint32_t checkpoints = 0; ///< how many checkpoints the sender serves (informational)
    std::uint32_t reserved = 0;
};
inline constexpr std::size_t kHeartbeatBody = 16;

/// Why a frame was refused; each has a counter in the link statistics.
enum class Reject : std::uint8_t {
    kNone = 0,
    kTooShort,    ///< shorter than the headers it claims
    kNotIpv4,     ///< ethertype or IP version/IHL not ours (other traffic on the link)
    kNotUdp,      ///< IP protocol is not UDP, or a fragmented datagram
    kWrongPort,   ///< UDP destination port is not the replication port
    kBadLength,   ///< IP/UDP/body lengths disagree with each other or with the frame
    kBadMagic,    ///< not a Hotspare header
    kBadVersion,  ///< a protocol version this node does not speak
    kBadHash,     ///< frame_hash mismatch: corrupted in flight
    kUnknownType, ///< a type this version does not know
    kBadBody,     ///< the body is too short for its type, or its payload length disagrees
};
std::string_view reject_name(Reject r);

/// A validated frame: header fields copied out, body a span into the caller's buffer.
struct DecodedFrame {
    Endpoint src, dst;
    FrameHeader header;
    std::span<const std::byte> body;
};

/// Validates and decodes a whole Ethernet frame. On kNone, `out` holds it; otherwise `out` is
/// untouched. Every length is checked before it is used; nothing is read outside `frame`.
Reject decode_frame(std::span<const std::byte> frame, std::uint16_t udp_port, DecodedFrame& out);

/// Writes Ethernet+IPv4+UDP+Hotspare headers and `body` into `out`; returns the frame length, or
/// 0 when `out` is too small or the frame would exceed kMaxFrame. Computes the IPv4 checksum and
/// frame_hash.
std::size_t encode_frame(std::span<std::byte> out, const Endpoint& src, const Endpoint& dst, const FrameHeader& h,
                         std::span<const std::byte> body);

/// Where the UDP payload (the Hotspare header) starts in a frame: Ethernet + IPv4 + UDP = 42.
inline constexpr std::size_t kUdpPayloadOffset = kEthHeader + kIpv4Header + kUdpHeader;

/// The addresses and payload of an Ethernet+IPv4+UDP frame, Hotspare or not.
struct UdpDatagram {
    Endpoint src, dst;
    std::span<const std::byte> payload; ///< into the frame
};

/// Parses only the Ethernet, IPv4 and UDP headers (IPv4 without options, not a fragment, valid
/// header checksum, lengths consistent with each other and the frame); the payload is not looked
/// at. The kernel-UDP carrier uses it to find where a frame goes before it strips the headers.
Reject unwrap_udp_payload(std::span<const std::byte> frame, UdpDatagram& out);

/// The inverse: writes Ethernet+IPv4+UDP headers (valid IPv4 checksum, UDP checksum 0, DF) into
/// out[0, 42) and the payload after them, so that decode_frame accepts the result when the payload
/// is a valid Hotspare header and body. `payload` may already sit at out[42] (wrapping in place,
/// no copy); any other overlap with `out` is allowed too (memmove). Returns the frame length, or
/// 0 when it does not fit `out` or kMaxFrame.
std::size_t wrap_udp_payload(std::span<std::byte> out, const Endpoint& src, const Endpoint& dst,
                             std::span<const std::byte> payload, std::uint16_t ip_id = 0);

/// DATA: fixed part + payload. Returns bytes written (0 if `out` is too small).
std::size_t encode_data_body(std::span<std::byte> out, const DataBody& d, std::span<const std::byte> payload);
/// Parses a DATA body; kBadBody when too short, when length disagrees, or payload_hash mismatches.
Reject decode_data_body(std::span<const std::byte> body, DataBody& d, std::span<const std::byte>& payload);

std::size_t encode_ack_body(std::span<std::byte> out, const AckBody& a);
Reject decode_ack_body(std::span<const std::byte> body, AckBody& a);

std::size_t encode_hello_body(std::span<std::byte> out, const HelloBody& h);
/// kBadBody also when version_min > version_max.
Reject decode_hello_body(std::span<const std::byte> body, HelloBody& h);
std::size_t encode_heartbeat_body(std::span<std::byte> out, const HeartbeatBody& h);
Reject decode_heartbeat_body(std::span<const std::byte> body, HeartbeatBody& h);

/// The IPv4 header checksum (RFC 791/1071) over `hdr`.
std::uint16_t ipv4_checksum(std::span<const std::byte> hdr);

} // namespace ckpt::net
