#pragma once
/// A session with the node's ckptd (saCkptInitialize). Control calls go over its UNIX socket; the
/// data path (writes, commits, reads, waits) never does. If ckptd restarts, the session reconnects
/// on its next control call or wait and re-opens its checkpoints, keeping every mapping (so
/// pointers into sections stay valid) and its writer slots.
#include "ckpt/client/checkpoint.hpp"
#include "ckpt/common/attributes.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ckpt::client {

namespace detail {
struct SessionCore;
}
struct Inspection;
struct NodeStats;
class Session;
/// Tools only (ckpt/client/inspect.hpp).
Result<Inspection> inspect(Session& session, std::string_view name);

/// Where ckptd listens unless told otherwise: $CKPT_SOCKET, else this.
inline constexpr const char* kDefaultSocket = "/run/hotspare/ckptd.sock";

struct SessionOptions {
    std::string socket_path;                             ///< empty: $CKPT_SOCKET or kDefaultSocket
    std::chrono::milliseconds timeout = kDefaultTimeout; ///< per control call
    bool reconnect = true;                               ///< re-establish after an engine restart
};

/// One line of Session::list().
struct CheckpointSummary : EngineCounters {
    std::string name;
    CheckpointAttributes attributes;
    std::uint32_t sections = 0;
    std::uint64_t bytes_used = 0;
    std::uint64_t commit_seq = 0;
    std::uint32_t open_handles = 0;
    std::uint64_t epoch = 0;
};

/// One replication peer as the node's engine sees it (Session::peers()).
struct PeerInfo {
    std::uint16_t node_id = 0;
    std::string state;                   ///< "unknown", "up", "down" or "incompatible"
    std::int64_t last_heard_ago_ns = -1; ///< -1: never heard from
    std::uint64_t rx_frames = 0, tx_frames = 0;
    std::uint64_t restarts = 0; ///< times the peer's engine restarted while watched
};

struct LinkInfo {
    std::string transport; ///< "none" when the engine is node-local
    std::vector<PeerInfo> peers;
    std::uint64_t rx_frames = 0, tx_frames = 0, tx_dropped = 0;
    std::uint64_t rx_rejected = 0;    ///< frames refused by validation (bad hash, version, length...)
    std::uint64_t rx_misdirected = 0; ///< valid frames for another node or from an unknown one
    /// Refused frames by reason, in net::Reject order: too short, not IPv4, not UDP, wrong port,
    /// bad length, bad magic, bad version, bad hash, unknown type, bad body.
    std::uint64_t rejected_by_reason[10] = {};
    // the reliable streams
    std::uint64_t retransmits = 0, duplicates = 0, reordered = 0, acks_sent = 0, nacks_sent = 0;
    // replication
    std::uint64_t commits_sent = 0;       ///< commits shipped to standbys (one per standby)
    std::uint64_t data_frames = 0;        ///< DATA frames queued
    std::uint64_t data_bytes = 0;         ///< DATA payload bytes (changed blocks only)
    std::uint64_t wire_bytes = 0;         ///< replication frames' bytes, headers included
    std::uint64_t commits_applied = 0;    ///< standby: whole commits applied
    std::uint64_t commits_acked = 0;      ///< active: commits every required standby applied
    std::uint64_t resyncs = 0;            ///< resync exchanges completed
    std::uint64_t resync_blocks = 0;      ///< blocks a resync found different and sent
    std::uint64_t resync_bytes = 0;       ///< their bytes
    std::uint64_t resync_blocks_same = 0; ///< blocks a resync found identical (not sent)
    std::uint64_t stale_epoch = 0;        ///< frames or announces from an older epoch: refused
    std::uint64_t not_from_active = 0;    ///< frames from a node that is not the replica's active
    std::uint64_t unknown_checkpoint = 0; ///< frames naming a checkpoint never announced
    std::uint64_t bad_commits = 0;        ///< DATA that did not fit: discarded, never applied
    std::uint64_t promotions = 0, demotions = 0;
    std::uint64_t refusals_sent = 0;     ///< standby: frames it did not apply, answered with REFUSED
    std::uint64_t refusals_received = 0; ///< active: REFUSED frames from standbys
    std::uint64_t fenced = 0;            ///< active: stepped down because a standby follows a newer active
    std::uint64_t acks_deferred = 0;     ///< ACKs held until the peer's own frames (a REFUSED) were in
};

class Session {
public:
    /// UNAVAILABLE (naming the socket) when no ckptd runs; ACCESS when it refuses this user.
    static Result<Session> connect(SessionOptions opts = {});

    /// Makes this node the active replica of `name` with a higher epoch (failover); returns the
    /// epoch. Standbys then follow it; a former active that comes back becomes a standby.
    Result<std::uint64_t> promote(std::string_view name);
    /// An application's claim to the active role of `name` (saCkptActiveReplicaSet): the epoch
    /// when this node's replica is active already (the cluster manager promoted it) or is the only
    /// one (node-local); a promotion when no cluster manager owns promotion and no live node holds
    /// the active replica. BAD_OPERATION, saying why, where it would make a second active.
    Result<std::uint64_t> activate(std::string_view name);
    /// Makes this node a standby for `name` (planned switch-over: promote another node next).
    Status demote(std::string_view name);

    /// saCkptCheckpointOpen. `attrs` is required with kOpenCreate and refused without it.
    Result<Checkpoint> open(std::string_view name, std::uint32_t flags, const CheckpointAttributes* attrs = nullptr);
    /// open(name, READ|WRITE|CREATE, &attrs).
    Result<Checkpoint> create(std::string_view name, const CheckpointAttributes& attrs);
    /// saCkptCheckpointUnlink: the name goes at once, the data at the last close.
    Status unlink(std::string_view name);
    /// Every checkpoint of the node.
    Result<std::vector<CheckpointSummary>> list();
    /// The engine's transport, peers and replication figures, read from its stats region (what
    /// ckptstat reads) right after the engine published it for this call. VERSION when the
    /// engine's stats layout is not one this library reads.
    Result<LinkInfo> peers();

    std::uint32_t node_id() const;
    /// The socket this session talks to.
    const std::string& socket_path() const;

private:
    friend Result<Inspection> inspect(Session& session, std::string_view name);
    friend Result<NodeStats> node_stats(Session& session);
    std::shared_ptr<detail::SessionCore> core_;
};

} // namespace ckpt::client
