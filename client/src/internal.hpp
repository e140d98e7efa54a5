#pragma once
// libckpt internals shared by its .cpp files; never installed.
#include "ckpt/client/session.hpp"
#include "ckpt/common/control_messages.hpp"
#include "ckpt/common/control_protocol.hpp"
#include "ckpt/common/fd.hpp"
#include "ckpt/common/unix_socket.hpp"
#include "ckpt/shm/checkpoint_view.hpp"
#include "ckpt/shm/shared_object.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ckpt::client::detail {

struct CheckpointCore;
struct WriteTracker; ///< transparent dirty tracking (write_tracking.cpp)

struct Reply {
    std::vector<std::byte> body; ///< after the status field
    std::vector<Fd> fds;
};

struct SessionCore {
    SessionOptions opts;
    std::string socket_path;
    std::recursive_mutex mu; ///< serialises control calls (and reconnects) of this session
    Fd sock;
    Fd kick;
    shm::Mapping node_map;
    const shm::NodeHeader* node = nullptr;
    std::uint32_t node_id = 0;
    std::uint32_t next_request = 1;
    std::vector<std::weak_ptr<CheckpointCore>> open;

    /// Connects and says HELLO (no reconnect logic).
    Status establish();
    /// One request/reply; on a lost engine reconnects (if allowed and `may_reconnect`) and retries once.
    Result<Reply> call(proto::Op op, const std::function<void(proto::Encoder&)>& body, bool may_reconnect = true);
    /// call() with a typed request (control_messages.hpp); its reply decoded, descriptors included.
    /// Hidden, as the message types are: never exported from libckpt.so.
    template <typename Req>
    [[gnu::visibility("hidden")]] Result<typename Req::Reply> request(const Req& req, bool may_reconnect = true) {
        CKPT_TRY_ASSIGN(rep, call(
                                 Req::kOp, [&](proto::Encoder& e) { req.encode(e); }, may_reconnect));
        proto::Decoder d(rep.body);
        return proto::decode_reply<typename Req::Reply>(d, rep.fds);
    }
    /// Re-establishes the session and re-opens every live checkpoint.
    Status reconnect();
    /// True when the engine hung up (checked without blocking).
    bool engine_gone() const;
    /// Wakes the engine if it sleeps (after a doorbell).
    void kick_engine() const;
    /// Called by waits: reconnect when the engine went away.
    void heal();

private:
    Result<Reply> call_once(proto::Op op, const std::vector<std::byte>& request);
};

struct CheckpointCore {
    std::shared_ptr<SessionCore> session;
    std::string name;
    std::uint32_t flags = 0;
    std::uint64_t handle = 0;
    std::uint32_t writer = proto::kNoWriterSlot;
    shm::Mapping meta_map, data_map;
    shm::MetaView meta;
    shm::DataView data;
    CheckpointAttributes attrs;
    Fd notify_epoll;      ///< what notify_fd() returns: readable on changes and when the engine goes away
    Fd notify_event;      ///< the engine's eventfd of the current subscription
    int notify_sock = -1; ///< the session socket registered in notify_epoll (for its hang-up)
    bool closed = false;
    bool role_reported = false; ///< role_event(): what it reported last
    std::uint32_t role_seen = 0, lost_events_seen = 0;
    std::uint64_t epoch_seen = 0;
    std::shared_ptr<WriteTracker> tracker; ///< set by enable_write_tracking()

    ~CheckpointCore();
    /// (Re)opens on the engine; maps the segments the first time, checks they are the same after.
    Status open_on_engine(bool first, const CheckpointAttributes* attrs);
    /// (Re)subscribes to change notifications and refreshes the epoll set behind notify_fd().
    Status subscribe();
};

/// Waits until pred() holds: spins briefly (yielding the core), then sleeps on the checkpoint's
/// ack futex. TIMEOUT when `timeout` passes; heals the session if the engine went away.
Status wait_for(CheckpointCore& ck, const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                const char* what);

std::string printable_id(std::string_view id);

/// True when the commit whose free lock word `lock` the caller loaded from `slot` is a member of a
/// write group another member of which is still held (section_group.hpp): not committed yet.
[[gnu::visibility("hidden")]] bool group_open(const CheckpointCore& ck, std::uint32_t slot, std::uint64_t lock);

/// Transparent tracking: marks in `tx` the pages of its section written since the last commit.
Status mark_written(CheckpointCore& ck, WriteTx& tx);

/// The engine's per-checkpoint counters, as STATUS, LIST and INSPECT carry them.
void copy_counters(const proto::CheckpointCounters& from, EngineCounters& to);

} // namespace ckpt::client::detail
