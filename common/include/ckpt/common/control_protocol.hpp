#pragma once
/// The control protocol between libckpt and ckptd over a UNIX SOCK_SEQPACKET socket. Each message
/// is one datagram: a fixed header, then fields in order (little-endian integers; byte strings
/// with a u32 length). File descriptors (segments, eventfds) ride along as SCM_RIGHTS. Every
/// field is decoded with bounds checks; a short or oversized message is MESSAGE_ERROR.
///
///   request: u16 op | u16 version | u32 request_id | body
///   reply:   u16 op | u16 version | u32 request_id | i32 status (0 OK, else ckpt::Error) | body
///            (on error the body is one string: the message)
#include "ckpt/common/attributes.hpp"

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::proto {

inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::size_t kMaxMessage = 64 * 1024;    ///< one datagram, both directions
inline constexpr std::size_t kMaxInlineData = 48 * 1024; ///< initial section data carried in SECTION_CREATE
inline constexpr std::size_t kMaxFds = 4;

enum class Op : std::uint16_t {
    kHello = 1,             ///< -> node id, engine pid; fds: NODE (ro), kick eventfd
    kOpen = 2,              ///< name, flags, attrs -> handle, writer slot; fds: META (ro), DATA (rw|ro)
    kClose = 3,             ///< handle
    kUnlink = 4,            ///< name
    kStatus = 5,            ///< handle -> attributes, section count, bytes used
    kSectionCreate = 6,     ///< handle, id, expiration, capacity, data -> id, slot
    kSectionDelete = 7,     ///< handle, id
    kSectionExpiration = 8, ///< handle, id, expiration
    kSubscribe = 9,         ///< handle -> fd: eventfd signalled after commits are captured
    kList = 10,             ///< cursor -> checkpoints
    kInspect = 11,          ///< name -> fds: META (ro), DATA (ro); for tools, no open handle
    kRollback = 12,         ///< handle, slot: abort this session's write transaction on the section
    /// Retired: its reply carried the link and replication figures by position. Kept reserved;
    /// ckptd answers NOT_SUPPORTED (the figures are in the stats region: kStats, then StatsView).
    kPeers = 13,
    kPromote = 14,   ///< name -> epoch: this node becomes the checkpoint's active replica
    kDemote = 15,    ///< name: this node becomes a standby for the checkpoint
    kRetention = 16, ///< handle, i64 retention: saCkptCheckpointRetentionDurationSet
    kReserve = 17,   ///< handle, slot, u64 size: a net-size checkpoint's section grows in this transaction
    kDirectory = 18, ///< handle -> u64 oldest directory change a required standby lacks (0: none)
    kStats = 19,     ///< -> (empty): ckptd publishes its stats region now, before it replies
    kActivate = 20,  ///< name -> epoch: an application's claim to the active role (PROMOTE, but
                     ///< BAD_OPERATION where another node is active or a cluster manager decides)
};

inline constexpr std::uint32_t kNoWriterSlot = 0xFFFF'FFFFu;

class Encoder {
public:
    Encoder& u8(std::uint8_t v) { return raw(&v, 1); }
    Encoder& u16(std::uint16_t v) { return raw(&v, 2); }
    Encoder& u32(std::uint32_t v) { return raw(&v, 4); }
    Encoder& i32(std::int32_t v) { return raw(&v, 4); }
    Encoder& u64(std::uint64_t v) { return raw(&v, 8); }
    Encoder& i64(std::int64_t v) { return raw(&v, 8); }
    Encoder& bytes(std::span<const std::byte> b) {
        u32(static_cast<std::uint32_t>(b.size()));
        return raw(b.data(), b.size());
    }
    Encoder& str(std::string_view s) { return bytes(std::as_bytes(std::span(s.data(), s.size()))); }
    Encoder& attrs(const CheckpointAttributes& a) {
        return u32(a.creation_flags)
            .u64(a.checkpoint_size)
            .i64(a.retention_ns)
            .u32(a.max_sections)
            .u64(a.max_section_size)
            .u32(a.max_section_id_size)
            .u32(a.block_size);
    }
    const std::vector<std::byte>& buffer() const { return buf_; }
    std::size_t size() const { return buf_.size(); }

private:
    Encoder& raw(const void* p, std::size_t n) {
        auto* b = static_cast<const std::byte*>(p);
        buf_.insert(buf_.end(), b, b + n);
        return *this;
    }
    std::vector<std::byte> buf_;
};

/// Decodes fields in order; once a read runs past the end every later read fails too and ok()
/// turns false, so a handler checks ok() once after decoding all fields.
class Decoder {
public:
    explicit Decoder(std::span<const std::byte> in) : in_(in) {}
    std::uint8_t u8() { return get<std::uint8_t>(); }
    std::uint16_t u16() { return get<std::uint16_t>(); }
    std::uint32_t u32() { return get<std::uint32_t>(); }
    std::int32_t i32() { return get<std::int32_t>(); }
    std::uint64_t u64() { return get<std::uint64_t>(); }
    std::int64_t i64() { return get<std::int64_t>(); }
    std::span<const std::byte> bytes() {
        std::uint32_t n = u32();
        if (!ok_ || n > in_.size() - pos_) {
            ok_ = false;
            return {};
        }
        auto s = in_.subspan(pos_, n);
        pos_ += n;
        return s;
    }
    std::string str() {
        auto b = bytes();
        return std::string(reinterpret_cast<const char*>(b.data()), b.size());
    }
    CheckpointAttributes attrs() {
        CheckpointAttributes a;
        a.creation_flags = u32();
        a.checkpoint_size = u64();
        a.retention_ns = i64();
        a.max_sections = u32();
        a.max_section_size = u64();
        a.max_section_id_size = u32();
        a.block_size = u32();
        return a;
    }
    bool ok() const { return ok_; }
    bool at_end() const { return ok_ && pos_ == in_.size(); }

private:
    template <typename T>
    T get() {
        T v{};
        if (!ok_ || sizeof(T) > in_.size() - pos_) {
            ok_ = false;
            return v;
        }
        std::memcpy(&v, in_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    std::span<const std::byte> in_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

inline Encoder request(Op op, std::uint32_t id) {
    Encoder e;
    e.u16(static_cast<std::uint16_t>(op)).u16(kProtocolVersion).u32(id);
    return e;
}

inline Encoder reply_ok(Op op, std::uint32_t id) {
    Encoder e;
    e.u16(static_cast<std::uint16_t>(op)).u16(kProtocolVersion).u32(id).i32(0);
    return e;
}

inline Encoder reply_error(Op op, std::uint32_t id, const Failure& f) {
    Encoder e;
    e.u16(static_cast<std::uint16_t>(op)).u16(kProtocolVersion).u32(id).i32(static_cast<std::int32_t>(f.code));
    e.str(f.message.size() > 4000 ? f.message.substr(0, 4000) : f.message);
    return e;
}

} // namespace ckpt::proto
