#pragma once
/// The control protocol's messages as types (the wire format is control_protocol.hpp's): one
/// request and one reply struct per op, each with encode() of its body and a static decode()
/// that reads the whole body or fails with MESSAGE_ERROR (short, long or malformed). libckpt
/// encodes requests and decodes replies with them; ckptd the other way round. The descriptors a
/// reply carries by SCM_RIGHTS are members (MessageFd), in the order fds() lists them; decode()
/// takes them from what arrived and fails when their count is not the message's. Requests carry
/// none (ckptd closes any that come along). PEERS is not here: its body is still hand-encoded.
#include "ckpt/common/attributes.hpp"
#include "ckpt/common/control_protocol.hpp"
#include "ckpt/common/fd.hpp"
#include "ckpt/common/message_fd.hpp"
#include "ckpt/common/result.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::proto {

// Internal to libckpt and ckptd (no installed header declares them): libckpt.so does not export
// them, nor the Result<> instantiations over them (their visibility follows these types').
#pragma GCC visibility push(hidden)

/// "OPEN", "SECTION_CREATE", ...; "UNKNOWN" for a number no op has.
std::string_view op_name(Op op) noexcept;

/// A request body that is short, long or malformed: MESSAGE_ERROR naming the op.
Failure malformed_request(Op op);
/// A reply body (or its descriptors) that is not what the op's reply is: MESSAGE_ERROR naming the op.
Failure malformed_reply(Op op);

/// One checkpoint's capture counters, as STATUS, LIST and INSPECT carry them:
/// 6 x u64, then str damage.
struct CheckpointCounters {
    std::uint64_t captures = 0;
    std::uint64_t captured_bytes = 0;
    std::uint64_t spurious_doorbells = 0;
    std::uint64_t rollbacks = 0;
    std::uint64_t corruptions = 0;
    std::uint64_t invalid_words = 0;
    std::string damage; ///< the last damage ckptd found in the checkpoint's control words, in words
    void encode(Encoder& e) const;
    /// Reads the fields; the caller checks the decoder (they sit inside a larger body).
    static CheckpointCounters decode(Decoder& d);
    friend bool operator==(const CheckpointCounters&, const CheckpointCounters&) = default;
};

/// The reply of an op whose success carries nothing.
template <Op O>
struct EmptyReply {
    static constexpr Op kOp = O;
    void encode(Encoder&) const {}
    static Result<EmptyReply> decode(Decoder& d) {
        if (!d.at_end()) return malformed_reply(O);
        return EmptyReply{};
    }
    friend bool operator==(const EmptyReply&, const EmptyReply&) = default;
};

/// A request whose body is one checkpoint name (str).
template <Op O, typename R>
struct NameRequest {
    static constexpr Op kOp = O;
    using Reply = R;
    std::string name;
    void encode(Encoder& e) const { e.str(name); }
    static Result<NameRequest> decode(Decoder& d) {
        NameRequest r;
        r.name = d.str();
        if (!d.at_end()) return malformed_request(O);
        return r;
    }
    friend bool operator==(const NameRequest&, const NameRequest&) = default;
};

/// A request whose body is one open handle (u64).
template <Op O, typename R>
struct HandleRequest {
    static constexpr Op kOp = O;
    using Reply = R;
    std::uint64_t handle = 0;
    void encode(Encoder& e) const { e.u64(handle); }
    static Result<HandleRequest> decode(Decoder& d) {
        HandleRequest r;
        r.handle = d.u64();
        if (!d.at_end()) return malformed_request(O);
        return r;
    }
    friend bool operator==(const HandleRequest&, const HandleRequest&) = default;
};

// --- HELLO (1) -------------------------------------------------------------------------------

/// fds: NODE (O_RDONLY), the engine's kick eventfd.
struct HelloReply {
    static constexpr Op kOp = Op::kHello;
    std::uint32_t node_id = 0;
    std::uint32_t engine_pid = 0;
    std::uint64_t node_size = 0; ///< bytes of NODE to map
    MessageFd node;
    MessageFd kick;
    std::array<int, 2> fds() const { return {node.get(), kick.get()}; }
    void encode(Encoder& e) const;
    static Result<HelloReply> decode(Decoder& d, std::vector<Fd>& fds);
    friend bool operator==(const HelloReply&, const HelloReply&) = default;
};

struct HelloRequest {
    static constexpr Op kOp = Op::kHello;
    using Reply = HelloReply;
    std::uint32_t pid = 0; ///< informational: SO_PEERCRED is what counts
    void encode(Encoder& e) const;
    static Result<HelloRequest> decode(Decoder& d);
    friend bool operator==(const HelloRequest&, const HelloRequest&) = default;
};

// --- OPEN (2) --------------------------------------------------------------------------------

/// fds: META (O_RDONLY), DATA (O_RDWR when opened for WRITE, else O_RDONLY).
struct OpenReply {
    static constexpr Op kOp = Op::kOpen;
    std::uint64_t handle = 0;
    std::uint32_t writer_slot = kNoWriterSlot;
    std::uint64_t meta_size = 0;
    std::uint64_t data_size = 0;
    bool created = false;
    MessageFd meta;
    MessageFd data;
    std::array<int, 2> fds() const { return {meta.get(), data.get()}; }
    void encode(Encoder& e) const;
    static Result<OpenReply> decode(Decoder& d, std::vector<Fd>& fds);
    friend bool operator==(const OpenReply&, const OpenReply&) = default;
};

struct OpenRequest {
    static constexpr Op kOp = Op::kOpen;
    using Reply = OpenReply;
    std::string name;
    std::uint32_t flags = 0;
    /// With CREATE only. On the wire a u8 says whether they are there, and attributes follow
    /// either way (the defaults when absent; ignored then).
    std::optional<CheckpointAttributes> attrs;
    std::uint32_t reattach_slot = kNoWriterSlot; ///< the writer slot held before a reconnect
    void encode(Encoder& e) const;
    static Result<OpenRequest> decode(Decoder& d);
    friend bool operator==(const OpenRequest&, const OpenRequest&) = default;
};

// --- CLOSE (3), UNLINK (4) -------------------------------------------------------------------

using CloseReply = EmptyReply<Op::kClose>;
using CloseRequest = HandleRequest<Op::kClose, CloseReply>;

using UnlinkReply = EmptyReply<Op::kUnlink>;
using UnlinkRequest = NameRequest<Op::kUnlink, UnlinkReply>;

// --- STATUS (5) ------------------------------------------------------------------------------

struct StatusReply {
    static constexpr Op kOp = Op::kStatus;
    CheckpointAttributes attrs;
    std::uint32_t sections = 0;
    std::uint64_t bytes_used = 0;
    std::uint64_t commit_seq = 0;
    CheckpointCounters counters;
    void encode(Encoder& e) const;
    static Result<StatusReply> decode(Decoder& d);
    friend bool operator==(const StatusReply&, const StatusReply&) = default;
};

using StatusRequest = HandleRequest<Op::kStatus, StatusReply>;

// --- SECTION_CREATE (6), SECTION_DELETE (7), SECTION_EXPIRATION (8) --------------------------

struct SectionCreateReply {
    static constexpr Op kOp = Op::kSectionCreate;
    std::string id; ///< the one asked for, or the one ckptd generated
    std::uint32_t slot = 0;
    std::uint64_t generation = 0;
    void encode(Encoder& e) const;
    static Result<SectionCreateReply> decode(Decoder& d);
    friend bool operator==(const SectionCreateReply&, const SectionCreateReply&) = default;
};

struct SectionCreateRequest {
    static constexpr Op kOp = Op::kSectionCreate;
    using Reply = SectionCreateReply;
    std::uint64_t handle = 0;
    std::string id; ///< empty with generate
    bool generate = false;
    std::int64_t expiration_ns = kTimeEnd;
    std::uint64_t capacity = 0; ///< 0: max_section_size
    /// Initial bytes, at most kMaxInlineData. Not copied: the caller's buffer (encode) or the
    /// decoded message (decode), which must outlive this request.
    std::span<const std::byte> data;
    void encode(Encoder& e) const;
    static Result<SectionCreateRequest> decode(Decoder& d);
    friend bool operator==(const SectionCreateRequest& a, const SectionCreateRequest& b);
};

using SectionDeleteReply = EmptyReply<Op::kSectionDelete>;
struct SectionDeleteRequest {
    static constexpr Op kOp = Op::kSectionDelete;
    using Reply = SectionDeleteReply;
    std::uint64_t handle = 0;
    std::string id;
    void encode(Encoder& e) const;
    static Result<SectionDeleteRequest> decode(Decoder& d);
    friend bool operator==(const SectionDeleteRequest&, const SectionDeleteRequest&) = default;
};

using SectionExpirationReply = EmptyReply<Op::kSectionExpiration>;
struct SectionExpirationRequest {
    static constexpr Op kOp = Op::kSectionExpiration;
    using Reply = SectionExpirationReply;
    std::uint64_t handle = 0;
    std::string id;
    std::int64_t expiration_ns = kTimeEnd;
    void encode(Encoder& e) const;
    static Result<SectionExpirationRequest> decode(Decoder& d);
    friend bool operator==(const SectionExpirationRequest&, const SectionExpirationRequest&) = default;
};

// --- SUBSCRIBE (9) ---------------------------------------------------------------------------

/// No body. fds: the handle's eventfd, signalled after each capture batch.
struct SubscribeReply {
    static constexpr Op kOp = Op::kSubscribe;
    MessageFd event;
    std::array<int, 1> fds() const { return {event.get()}; }
    void encode(Encoder&) const {}
    static Result<SubscribeReply> decode(Decoder& d, std::vector<Fd>& fds);
    friend bool operator==(const SubscribeReply&, const SubscribeReply&) = default;
};

using SubscribeRequest = HandleRequest<Op::kSubscribe, SubscribeReply>;

// --- LIST (10) -------------------------------------------------------------------------------

/// One checkpoint of a LIST reply.
struct ListEntry {
    std::string name;
    CheckpointAttributes attrs;
    std::uint32_t sections = 0;
    std::uint64_t bytes_used = 0;
    std::uint64_t commit_seq = 0;
    std::uint32_t open_count = 0;
    std::uint64_t epoch = 0;
    CheckpointCounters counters;
    void encode(Encoder& e) const;
    /// Reads the fields; the caller checks the decoder.
    static ListEntry decode(Decoder& d);
    friend bool operator==(const ListEntry&, const ListEntry&) = default;
};

struct ListReply {
    static constexpr Op kOp = Op::kList;
    /// ckptd stops adding entries once the body passes this many bytes (an entry is at most a
    /// name and a damage text past it), so that a reply fits one datagram.
    static constexpr std::size_t kBodyBudget = kMaxMessage - 2048;
    std::vector<ListEntry> entries;
    std::uint32_t next_cursor = 0; ///< where the next LIST goes on; 0: this was the last part
    void encode(Encoder& e) const;
    static Result<ListReply> decode(Decoder& d);
    friend bool operator==(const ListReply&, const ListReply&) = default;
};

struct ListRequest {
    static constexpr Op kOp = Op::kList;
    using Reply = ListReply;
    std::uint32_t cursor = 0;
    void encode(Encoder& e) const;
    static Result<ListRequest> decode(Decoder& d);
    friend bool operator==(const ListRequest&, const ListRequest&) = default;
};

// --- INSPECT (11) ----------------------------------------------------------------------------

/// fds: META (O_RDONLY), DATA (O_RDONLY). No handle is opened, so retention is unaffected.
struct InspectReply {
    static constexpr Op kOp = Op::kInspect;
    std::uint64_t meta_size = 0;
    std::uint64_t data_size = 0;
    std::uint32_t open_count = 0;
    CheckpointCounters counters;
    MessageFd meta;
    MessageFd data;
    std::array<int, 2> fds() const { return {meta.get(), data.get()}; }
    void encode(Encoder& e) const;
    static Result<InspectReply> decode(Decoder& d, std::vector<Fd>& fds);
    friend bool operator==(const InspectReply&, const InspectReply&) = default;
};

using InspectRequest = NameRequest<Op::kInspect, InspectReply>;

// --- ROLLBACK (12) ---------------------------------------------------------------------------

using RollbackReply = EmptyReply<Op::kRollback>;
struct RollbackRequest {
    static constexpr Op kOp = Op::kRollback;
    using Reply = RollbackReply;
    std::uint64_t handle = 0;
    std::uint32_t slot = 0;
    void encode(Encoder& e) const;
    static Result<RollbackRequest> decode(Decoder& d);
    friend bool operator==(const RollbackRequest&, const RollbackRequest&) = default;
};

// --- PROMOTE (14), DEMOTE (15) ---------------------------------------------------------------

/// The reply of PROMOTE and ACTIVATE.
template <Op O>
struct EpochReply {
    static constexpr Op kOp = O;
    std::uint64_t epoch = 0; ///< the checkpoint's epoch with this node active
    void encode(Encoder& e) const { e.u64(epoch); }
    static Result<EpochReply> decode(Decoder& d) {
        EpochReply r;
        r.epoch = d.u64();
        if (!d.at_end()) return malformed_reply(O);
        return r;
    }
    friend bool operator==(const EpochReply&, const EpochReply&) = default;
};

using PromoteReply = EpochReply<Op::kPromote>;
using PromoteRequest = NameRequest<Op::kPromote, PromoteReply>;

using DemoteReply = EmptyReply<Op::kDemote>;
using DemoteRequest = NameRequest<Op::kDemote, DemoteReply>;

// --- RETENTION (16), RESERVE (17), DIRECTORY (18) --------------------------------------------

using RetentionReply = EmptyReply<Op::kRetention>;
struct RetentionRequest {
    static constexpr Op kOp = Op::kRetention;
    using Reply = RetentionReply;
    std::uint64_t handle = 0;
    std::int64_t retention_ns = 0;
    void encode(Encoder& e) const;
    static Result<RetentionRequest> decode(Decoder& d);
    friend bool operator==(const RetentionRequest&, const RetentionRequest&) = default;
};

using ReserveReply = EmptyReply<Op::kReserve>;
struct ReserveRequest {
    static constexpr Op kOp = Op::kReserve;
    using Reply = ReserveReply;
    std::uint64_t handle = 0;
    std::uint32_t slot = 0;
    std::uint64_t size = 0; ///< the section's size at the transaction's commit
    void encode(Encoder& e) const;
    static Result<ReserveRequest> decode(Decoder& d);
    friend bool operator==(const ReserveRequest&, const ReserveRequest&) = default;
};

struct DirectoryReply {
    static constexpr Op kOp = Op::kDirectory;
    std::uint64_t oldest_unapplied = 0; ///< change sequence a required standby lacks; 0: none
    void encode(Encoder& e) const;
    static Result<DirectoryReply> decode(Decoder& d);
    friend bool operator==(const DirectoryReply&, const DirectoryReply&) = default;
};

using DirectoryRequest = HandleRequest<Op::kDirectory, DirectoryReply>;

// --- STATS (19) ------------------------------------------------------------------------------

/// ckptd publishes its stats region now, then replies (the figures are read from the region).
using StatsReply = EmptyReply<Op::kStats>;
struct StatsRequest {
    static constexpr Op kOp = Op::kStats;
    using Reply = StatsReply;
    void encode(Encoder&) const {}
    static Result<StatsRequest> decode(Decoder& d) {
        if (!d.at_end()) return malformed_request(Op::kStats);
        return StatsRequest{};
    }
    friend bool operator==(const StatsRequest&, const StatsRequest&) = default;
};

// --- ACTIVATE (20) ---------------------------------------------------------------------------

using ActivateReply = EpochReply<Op::kActivate>;
using ActivateRequest = NameRequest<Op::kActivate, ActivateReply>;

/// A reply type that carries descriptors (it has fds()).
template <typename R>
concept CarriesFds = requires(const R& r) {
    r.fds();
};

/// Decodes a reply body, with the descriptors that arrived when the type carries some (any that
/// came with a reply that carries none stay in `fds`, to be closed with it).
template <typename R>
Result<R> decode_reply(Decoder& d, std::vector<Fd>& fds) {
    if constexpr (CarriesFds<R>)
        return R::decode(d, fds);
    else
        return R::decode(d);
}

#pragma GCC visibility pop

} // namespace ckpt::proto
