#pragma once
/// Hotspare's replication frames: UDP/IPv4 over Ethernet, so tcpdump/tshark show them, with a
/// small versioned header and an authentication tag. Pure byte layout and codec, no DPDK: the DPDK
/// ports and the kernel-UDP fallback carry the same frames. All multi-byte fields are big-endian.
///
///   +---------------- Ethernet II (14) ----------------+
///   | dst MAC (6) | src MAC (6) | ethertype 0x0800      |
///   +---------------- IPv4 (20, no options) -----------+
///   | 0x45 | tos | total_len | id | DF | ttl 64 | 17 | checksum | src | dst |
///   +---------------- UDP (8) -------------------------+
///   | src port | dst port (7490) | length | checksum 0 (integrity: the tag below) |
///   +---------------- Hotspare header (48) ------------+
///    0 u32 magic "HSPR"      4 u8 version   5 u8 type   6 u16 flags
///    8 u16 src_node         10 u16 dst_node             12 u16 body_len   14 u8 key_id  15 u8 0
///   16 u64 epoch            24 u64 link_seq
///   32 u64 session (the sender's, random per engine start)   40 u64 counter (per transmission)
///   +---------------- body (body_len) -----------------+
///   | type-specific fixed part, then payload             |
///   +---------------- tag (16) ------------------------+
///   | AES-256-GMAC of header + body under the sender's derived key (key_id 1..255, frame_auth.hpp),
///   | or XXH3-128 of header + body when key_id is 0 (auth = none)
///   +--------------------------------------------------+
///
/// A frame whose tag fails is dropped and counted, never applied.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ckpt::net {

class FrameAuth;

inline constexpr std::uint32_t kWireMagic = 0x4853'5052; // "HSPR"
/// 2: ACK names the acknowledging node's own sequenced frames (sent_through) and REFUSED exists,
/// so an acknowledgement means "applied"; version 1 peers are refused at HELLO.
/// 3: a MAC trailer replaces the XXH3 frame hash; session and counter in the header (replay
/// protection); HELLO carries a handshake challenge, HELLO and HEARTBEAT the sender's key ids.
inline constexpr std::uint8_t kWireVersion = 4;
inline constexpr std::uint16_t kDefaultUdpPort = 7490;
inline constexpr std::size_t kEthHeader = 14, kIpv4Header = 20, kUdpHeader = 8, kHotspareHeader = 48;
inline constexpr std::size_t kFrameTrailer = 16; ///< the tag after the body
inline constexpr std::size_t kFrameOverhead =
    kEthHeader + kIpv4Header + kUdpHeader + kHotspareHeader + kFrameTrailer; // 106
inline constexpr std::size_t kMaxFrame = 9000 + kEthHeader;                  ///< jumbo MTU

enum class FrameType : std::uint8_t {
    kData = 1,       ///< a byte range of one section, part of one commit (sequenced)
    kAck = 2,        ///< cumulative + selective acknowledgement of link sequence numbers
    kNack = 3,       ///< a gap the receiver wants again
    kHeartbeat = 4,  ///< liveness and the sender's state
    kHello = 5,      ///< protocol versions and boot id, on link up
    kAnnounce = 6,   ///< "I am the active replica of this checkpoint": name, attributes (sequenced)
    kSection = 7,    ///< section install / delete / expiration change (sequenced)
    kHashes = 8,     ///< a replica's block hashes of one section, for resync (sequenced)
    kResyncDone = 9, ///< the active sent every difference (sequenced)
    kRefused = 10,   ///< a standby did not apply a commit / section change / resync (sequenced)
};
inline constexpr std::uint8_t kMaxFrameType = 10;

/// True for types carried in the per-peer reliable, ordered stream (link_seq != 0).
constexpr bool is_sequenced(FrameType t) {
    return t == FrameType::kData || t == FrameType::kAnnounce || t == FrameType::kSection || t == FrameType::kHashes ||
           t == FrameType::kResyncDone || t == FrameType::kRefused;
}

/// FrameHeader::flags
inline constexpr std::uint16_t kFlagLastFragment = 0x1; ///< DATA: the commit is complete with this frame;
                                                        ///< HASHES: the report is complete
inline constexpr std::uint16_t kFlagOverwrite = 0x2;    ///< DATA: the commit replaced the whole section
/// DATA (version 4): the payload is several runs of the section, listed after the fixed part
/// (encode_data_runs_body). Without it, one run at `offset`.
inline constexpr std::uint16_t kFlagRuns = 0x4;
/// DATA, on a commit's last fragment: the commit is a member of a write group and more members
/// follow, back to back; the receiver stages it and applies the whole group with the last member
/// (the first last fragment without the flag), or none of it.
inline constexpr std::uint16_t kFlagGroupMore = 0x8;
/// DATA (version 4): a batch, several small commits coalesced into one frame (docs/PROTOCOL.md,
/// "Batches"). The body: u32 checkpoint id (as every replication body begins), u16 entry count
/// (2..kMaxBatchEntries), u16 reserved (0), then the entries back to back, each a whole commit in
/// one fragment: u16 the flags that commit would carry in a frame of its own (kFlagLastFragment
/// set, kFlagOverwrite and kFlagRuns allowed), u16 reserved (0), u32 length, then that many bytes
/// of an ordinary DATA body (fixed part, run table with kFlagRuns, payload) of that checkpoint.
/// The header carries kFlagBatch | kFlagLastFragment and nothing else (the header's epoch is the
/// checkpoint's). The receiver applies the entries in order, each all or nothing, as if each had
/// come in a frame of its own.
inline constexpr std::uint16_t kFlagBatch = 0x10;
/// Every DATA flag this version knows.
inline constexpr std::uint16_t kDataFlagsKnown =
    kFlagLastFragment | kFlagOverwrite | kFlagRuns | kFlagGroupMore | kFlagBatch;

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
    std::uint8_t key_id = 0;   ///< the cluster key the tag was made with (0: unkeyed checksum)
    std::uint64_t session = 0; ///< the sender's session (random per engine start)
    std::uint64_t counter = 0; ///< the sender's frame counter in that session: the MAC's nonce
};

/// DATA body (fixed part, 48 bytes), followed by `length` payload bytes. No payload hash: the frame
/// tag (GMAC, or the XXH3-128 checksum without auth) already covers header and body. A commit is one or more
/// DATA frames in consecutive link sequence numbers, fragment 0, 1, ...; the last carries
/// kFlagLastFragment. A commit that changed no byte (a rollback's new sequence) is one empty frame.
struct DataBody {
    std::uint32_t checkpoint_id = 0; ///< the sender's wire id of the checkpoint (from its ANNOUNCE)
    std::uint32_t slot = 0;
    std::uint64_t generation = 0;
    std::uint64_t commit_seq = 0;   ///< the section's sequence after this commit (even)
    std::uint64_t offset = 0;       ///< in the section
    std::uint32_t length = 0;       ///< payload bytes
    std::uint32_t fragment = 0;     ///< index within the commit
    std::uint64_t section_size = 0; ///< the section's committed size after this commit
};
inline constexpr std::size_t kDataBodyFixed = 48;

/// NACK body (16 bytes): link sequence numbers [first, last] are missing; send them again.
struct NackBody {
    std::uint64_t first = 0, last = 0;
};
inline constexpr std::size_t kNackBody = 16;

/// ANNOUNCE body (64 bytes + name). The header's epoch is the checkpoint's epoch at the sender.
struct AnnounceBody {
    std::uint32_t checkpoint_id = 0; ///< wire id the sender uses for it in later frames
    std::uint32_t creation_flags = 0;
    std::uint64_t incarnation = 0;
    std::uint64_t checkpoint_size = 0;
    std::uint64_t max_section_size = 0;
    std::int64_t retention_ns = 0;
    std::uint32_t max_sections = 0;
    std::uint32_t max_section_id_size = 0;
    std::uint32_t block_size = 0;
    std::uint32_t reserved = 0;
    std::uint64_t commit_seq = 0; ///< informational: the sender's change sequence
    /// The join this ANNOUNCE starts (never 0; 0 from a sender before it): the standby's HASHES
    /// report echoes it, so the active takes only the report that answers its latest ANNOUNCE.
    std::uint64_t join = 0;
    std::string_view name; ///< into the frame
};
inline constexpr std::size_t kAnnounceBodyFixed = 72;

enum class SectionOp : std::uint8_t {
    kInstall = 1,
    kDelete = 2,
    kExpiration = 3,
    kUnlinkCheckpoint = 4, ///< the checkpoint itself was deleted on the active (slot unused)
};

/// SECTION body (72 bytes + id).
struct SectionBody {
    std::uint32_t checkpoint_id = 0;
    SectionOp op = SectionOp::kInstall;
    std::uint32_t slot = 0;
    std::uint64_t generation = 0;
    std::uint64_t data_offset = 0; ///< from the area start: the replica's layout is identical
    std::uint64_t capacity = 0;
    std::int64_t expiration_ns = 0;
    std::uint64_t seq = 0;  ///< install: the section's sequence
    std::uint64_t size = 0; ///< install: its committed size
    std::span<const std::byte> id;
};
inline constexpr std::size_t kSectionBodyFixed = 72;

/// HASHES body (48 bytes + 8 per hash): XXH3-64 of blocks [first_block, first_block + count) of the
/// section in `slot` as the replica holds it. slot == kNoSlot: the replica holds no section (an
/// empty report).
struct HashesBody {
    std::uint32_t checkpoint_id = 0;
    std::uint32_t slot = 0;
    std::uint64_t generation = 0;
    std::uint64_t data_offset = 0;
    std::uint64_t capacity = 0;
    std::uint64_t id_hash = 0; ///< XXH3-64 of the section id
    std::uint32_t first_block = 0;
    std::uint32_t count = 0;
    std::uint64_t join = 0;            ///< the ANNOUNCE's join this report answers
    std::span<const std::byte> hashes; ///< count big-endian u64s, into the frame
};
inline constexpr std::size_t kHashesBodyFixed = 56;
inline constexpr std::uint32_t kNoSlot = 0xFFFF'FFFFu;

/// RESYNC_DONE body (16 bytes).
struct ResyncDoneBody {
    std::uint32_t checkpoint_id = 0;
    std::uint32_t sections = 0;    ///< sections installed
    std::uint64_t blocks_sent = 0; ///< blocks that differed and were sent
};
inline constexpr std::size_t kResyncDoneBody = 16;

/// ACK body (32 bytes).
/// An ACK says "delivered and handled": the receiver processed each acknowledged frame before
/// sending it, and a frame it refused was answered by a REFUSED frame queued before this ACK.
/// sent_through tells the ACK's receiver to hold the ACK back until it has taken in every
/// sequenced frame of the acknowledging node up to that link_seq, so a REFUSED lost on the wire
/// cannot be overtaken by the ACK of the frame it refuses (0 in the low 48 bits: no condition).
struct AckBody {
    std::uint64_t cumulative = 0;   ///< every link_seq <= this arrived
    std::uint64_t selective = 0;    ///< bit i: link_seq cumulative + 1 + i arrived too
    std::uint64_t sent_through = 0; ///< the acknowledging node's last sequenced link_seq to us
    std::uint64_t reserved = 0;
};
inline constexpr std::size_t kAckBody = 32;

/// Why a standby did not apply a sequenced frame (REFUSED body's reason).
enum class RefuseReason : std::uint8_t {
    kUnknownCheckpoint = 1, ///< no replica of that checkpoint follows the sender
    kStaleEpoch = 2,        ///< the sender's epoch is older than the replica's: it is fenced
    kNotFromActive = 3,     ///< the replica follows another active
    kBadCommit = 4,         ///< did not fit the replica (slot, generation, range, fragment order)
    kNoReplica = 5,         ///< ANNOUNCE: this node cannot create the replica (its log says why)
    kOverLimit = 6,         ///< ANNOUNCE: the replica is larger than this node's replica_max_* bounds
};
inline constexpr std::uint8_t kMaxRefuseReason = 6;

/// REFUSED body (32 bytes): a standby's answer to a DATA (last fragment), SECTION or
/// RESYNC_DONE frame it did not apply. The active does not count the commit as replicated on
/// that node: it resyncs the node, or steps down when the node follows a newer epoch.
struct RefusedBody {
    std::uint32_t checkpoint_id = 0; ///< the refused frame's checkpoint id (the sender's)
    RefuseReason reason{};
    FrameType refused_type{};
    std::uint16_t reserved = 0;
    std::uint64_t refused_link_seq = 0; ///< the refused frame's link_seq
    std::uint64_t commit_seq = 0;       ///< DATA: the commit's section sequence; else 0
    std::uint64_t replica_epoch = 0;    ///< the refusing replica's epoch (0: it has none)
};
inline constexpr std::size_t kRefusedBody = 32;

/// HELLO body (48 bytes): sent to a peer that is not up, and in answer to a HELLO from a peer
/// that has not accepted this node's session. A node accepts a new session of a peer only from a
/// HELLO that echoes the challenge it sent last (so the HELLO was made after it), and draws a new
/// challenge each time it accepts one: a recorded HELLO of an older session never passes again.
struct HelloBody {
    std::uint16_t version_min = kWireVersion;      ///< oldest frame version this node speaks
    std::uint16_t version_max = kWireVersion;      ///< newest
    std::uint32_t heartbeat_ms = 0;                ///< the sender's heartbeat interval
    std::uint64_t boot_id = 0;                     ///< the sender's session (as in the header)
    std::uint64_t challenge = 0;                   ///< the receiver echoes it to have a new session accepted
    std::uint64_t echo = 0;                        ///< the receiver's challenge as the sender last saw it
    std::uint64_t peer_session = 0;                ///< the receiver's session the sender accepted (0: none)
    std::uint8_t key_newest = 0, key_previous = 0; ///< the cluster key ids the sender holds (0: none)
    std::uint16_t reserved = 0;
    std::uint32_t reserved2 = 0;
};
inline constexpr std::size_t kHelloBody = 48;

/// HEARTBEAT body (24 bytes).
struct HeartbeatBody {
    std::uint64_t boot_id = 0;
    std::uint32_t checkpoints = 0;                 ///< how many checkpoints the sender serves (informational)
    std::uint8_t key_newest = 0, key_previous = 0; ///< the cluster key ids the sender holds
    std::uint16_t reserved = 0;
    std::uint64_t peer_session = 0; ///< the receiver's session the sender accepted
};
inline constexpr std::size_t kHeartbeatBody = 24;

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
    kBadHash,     ///< IPv4 checksum or frame tag mismatch: corrupted in flight, or forged
    kUnknownType, ///< a type this version does not know
    kBadBody,     ///< the body is too short for its type, or its payload length disagrees
    // Refused by the peer link after the tag held:
    kUnknownKey,   ///< made with a key this node does not hold (or unkeyed on a keyed link, or the reverse)
    kReplayed,     ///< a frame counter already seen in the sender's session (a replay or a duplicate)
    kStaleSession, ///< a session of the sender this node has not accepted (an old one: a replay)
    kWrongSource,  ///< from an IP address other than the configured peer's
};
inline constexpr std::uint8_t kMaxReject = 14;
std::string_view reject_name(Reject r);

/// A validated frame: header fields copied out, body a span into the caller's buffer.
struct DecodedFrame {
    Endpoint src, dst;
    FrameHeader header;
    std::span<const std::byte> body;
};

/// Validates and decodes a whole Ethernet frame, its tag checked with `auth` (kUnknownKey for a
/// key it does not hold, kBadHash for a wrong tag). On kNone, `out` holds it; otherwise `out` is
/// untouched. Every length is checked before it is used; nothing is read outside `frame`.
/// auth == nullptr: the tag was checked when the frame arrived (a frame buffered behind a gap).
Reject decode_frame(std::span<const std::byte> frame, std::uint16_t udp_port, DecodedFrame& out, FrameAuth* auth);
/// The same with the unkeyed checksum (auth = none), as encode_frame seals.
Reject decode_frame(std::span<const std::byte> frame, std::uint16_t udp_port, DecodedFrame& out);

/// The sender of a frame of another wire version, as far as every version agrees on it.
struct ForeignVersion {
    std::uint8_t version = 0; ///< the sender's frame version (never kWireVersion)
    std::uint16_t src_node = 0, dst_node = 0;
};

/// For a frame decode_frame refused with kBadVersion: who sent it and in which version, read from
/// the envelope every version keeps (magic, version, src_node, dst_node, body_len), and only when
/// that envelope is intact, so that a bit flipped in flight never passes for another version:
/// versions 1 and 2 by their XXH3-64 frame hash at byte 32 of a 40-byte header; versions above 3
/// by a version-3 tag (header fields and trailer as in version 3), checked with `auth`. false
/// otherwise. Lets a node refuse a peer of another version by name, once, not frame by frame.
bool identify_foreign_version(std::span<const std::byte> frame, std::uint16_t udp_port, ForeignVersion& out,
                              FrameAuth* auth = nullptr);

/// Writes Ethernet+IPv4+UDP+Hotspare headers, `body` and room for the tag into `out`; returns the
/// frame length, or 0 when `out` is too small or the frame would exceed kMaxFrame. Computes the
/// IPv4 checksum; the frame is not sealed (its tag is zero): seal_frame does that when it is sent.
/// `body` may already sit at out[kFrameBodyOffset] (a body built in place: not copied again).
std::size_t encode_frame_unsealed(std::span<std::byte> out, const Endpoint& src, const Endpoint& dst,
                                  const FrameHeader& h, std::span<const std::byte> body);
/// Writes key id, session and counter into an encoded frame's header and its tag (one pass over
/// header and body); false when the frame is malformed or `auth` does not hold the key.
bool seal_frame(std::span<std::byte> frame, FrameAuth& auth, std::uint8_t key_id, std::uint64_t session,
                std::uint64_t counter);
/// encode_frame_unsealed, then sealed with the unkeyed checksum (key 0, h.session, h.counter):
/// what a node with `auth = none` sends (tests, tools).
std::size_t encode_frame(std::span<std::byte> out, const Endpoint& src, const Endpoint& dst, const FrameHeader& h,
                         std::span<const std::byte> body);

/// Where the UDP payload (the Hotspare header) starts in a frame: Ethernet + IPv4 + UDP = 42.
inline constexpr std::size_t kUdpPayloadOffset = kEthHeader + kIpv4Header + kUdpHeader;
/// Where a frame's body starts: after the Ethernet, IPv4, UDP and Hotspare headers (90).
inline constexpr std::size_t kFrameBodyOffset = kUdpPayloadOffset + kHotspareHeader;

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

/// One run of a DATA frame carrying several (kFlagRuns): `length` bytes at `offset` in the section.
struct DataRun {
    std::uint64_t offset = 0;
    std::uint32_t length = 0;
};
inline constexpr std::size_t kDataRunCount = 4;  ///< u32 run count after the fixed part
inline constexpr std::size_t kDataRunEntry = 12; ///< u64 offset, u32 length
inline constexpr std::size_t kMaxDataRuns = 1024;

/// DATA with kFlagRuns: fixed part (offset = the first run's, length = the payload's total),
/// u32 run count, the runs (ascending, not overlapping, none empty),
/// then their bytes back to back, gathered from `section` (which must hold every run). Fills
/// d.offset and d.length. Returns bytes written (0 if it does not fit `out`).
std::size_t encode_data_runs_body(std::span<std::byte> out, DataBody& d, std::span<const DataRun> runs,
                                  std::span<const std::byte> section);
/// Parses a kFlagRuns DATA body into d, runs[0, n) (runs holds kMaxDataRuns) and the payload;
/// kBadBody when anything disagrees (count, order, overlap, empty run, lengths).
Reject decode_data_runs_body(std::span<const std::byte> body, DataBody& d, std::span<DataRun> runs, std::size_t& n,
                             std::span<const std::byte>& payload);

/// One entry of a batch DATA frame (kFlagBatch): a whole commit, as the DATA body it would have
/// in a frame of its own, with that frame's flags.
struct DataBatchEntry {
    std::uint16_t flags = 0;         ///< kFlagLastFragment, maybe kFlagOverwrite, kFlagRuns
    std::span<const std::byte> body; ///< an ordinary DATA body (into the frame)
};
inline constexpr std::size_t kBatchHeader = 8;      ///< u32 checkpoint id, u16 entry count, u16 reserved
inline constexpr std::size_t kBatchEntryHeader = 8; ///< u16 flags, u16 reserved, u32 length
/// Entries one batch frame can hold at most: a jumbo frame's body of the smallest entries (an
/// empty commit: 8 + 48 bytes) is 159.
inline constexpr std::size_t kMaxBatchEntries = 160;
/// Writes a batch body's header at out[0, 8).
void put_batch_header(std::byte* out, std::uint32_t checkpoint_id, std::uint16_t entries);
/// Writes a batch entry's header at out[0, 8) for a `body_len`-byte DATA body that follows it.
void put_batch_entry_header(std::byte* out, std::uint16_t flags, std::uint32_t body_len);
/// Parses and checks a whole batch body (kFlagBatch) before anything of it is applied: the
/// header (reserved 0, 2..kMaxBatchEntries entries), each entry header within the body and its
/// length within what is left, reserved 0, flags kFlagLastFragment with nothing but
/// kFlagOverwrite and kFlagRuns besides, each entry's DATA body valid (decode_data_body /
/// decode_data_runs_body), fragment 0, of the header's checkpoint, and exactly `count` entries
/// filling the body. `out` holds
/// kMaxBatchEntries; on kNone, out[0, n) are the entries in order. kBadBody otherwise.
Reject decode_data_batch(std::span<const std::byte> body, std::span<DataBatchEntry> out, std::size_t& n);

/// DATA: fixed part + payload. Returns bytes written (0 if `out` is too small).
std::size_t encode_data_body(std::span<std::byte> out, const DataBody& d, std::span<const std::byte> payload);
/// Parses a DATA body; kBadBody when too short or when length disagrees. The payload is not hashed
/// again: decode_frame checked the frame's tag over it.
Reject decode_data_body(std::span<const std::byte> body, DataBody& d, std::span<const std::byte>& payload);

std::size_t encode_nack_body(std::span<std::byte> out, const NackBody& n);
/// kBadBody also when first > last.
Reject decode_nack_body(std::span<const std::byte> body, NackBody& n);
std::size_t encode_announce_body(std::span<std::byte> out, const AnnounceBody& a);
Reject decode_announce_body(std::span<const std::byte> body, AnnounceBody& a);
std::size_t encode_section_body(std::span<std::byte> out, const SectionBody& s);
/// kBadBody also for an unknown op.
Reject decode_section_body(std::span<const std::byte> body, SectionBody& s);
/// Writes the fixed part and `hashes` (host order) big-endian.
std::size_t encode_hashes_body(std::span<std::byte> out, const HashesBody& h, std::span<const std::uint64_t> hashes);
Reject decode_hashes_body(std::span<const std::byte> body, HashesBody& h);
/// The i-th hash of a decoded HASHES body (i < count).
std::uint64_t hashes_at(const HashesBody& h, std::uint32_t i);
/// The sender's u32 checkpoint id every replication body (DATA, SECTION, HASHES, RESYNC_DONE,
/// ANNOUNCE, REFUSED) begins with; 0 when the body is shorter than 4 bytes (0 is no checkpoint).
std::uint32_t body_checkpoint_id(std::span<const std::byte> body);
std::size_t encode_resync_done_body(std::span<std::byte> out, const ResyncDoneBody& r);
Reject decode_resync_done_body(std::span<const std::byte> body, ResyncDoneBody& r);

std::size_t encode_refused_body(std::span<std::byte> out, const RefusedBody& r);
/// kBadBody on a wrong length, an unknown reason or a refused type that is not sequenced.
Reject decode_refused_body(std::span<const std::byte> body, RefusedBody& r);
const char* refuse_reason_name(RefuseReason r);
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
