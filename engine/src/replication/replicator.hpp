#pragma once
/// The replication pipeline above the peer link. On the active replica of a checkpoint it turns
/// commits (ReplEvents: the changed blocks whose hash differs from the replicated one) into DATA
/// frames for every standby in sync, tracks which commits each standby acknowledged, and publishes
/// the per-section acknowledged sequence that synchronous commits wait for. On a standby it mirrors
/// the active's directory and applies whole commits, all or nothing. It runs the resync exchange
/// (block hashes, then only the blocks that differ) whenever a standby (re)joins, and fences by
/// epoch: a frame from an older epoch changes nothing and is counted.
#include "ckpt/common/result.hpp"
#include "ckpt/shm/stats_layout.hpp"
#include "link/peer_link.hpp"
#include "store/checkpoint.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ckpt::engine {

/// What the replicator needs from the engine's checkpoint registry.
class ReplicaHost {
public:
    virtual ~ReplicaHost() = default;
    virtual std::shared_ptr<Checkpoint> find_checkpoint(const std::string& name) = 0;
    /// Creates a standby replica with these attributes (identical layout).
    virtual Result<std::shared_ptr<Checkpoint>> create_replica(const std::string& name,
                                                               const CheckpointAttributes& attrs) = 0;
    /// The active deleted the checkpoint: unlink the replica (it goes when its last handle closes).
    virtual void unlink_replica(const std::shared_ptr<Checkpoint>& c) = 0;
    virtual void replication_log(const std::string& line) = 0;
};

struct ReplicationCounters {
    std::uint64_t commits_sent = 0;       ///< commits shipped (per standby)
    std::uint64_t data_frames = 0;        ///< DATA frames queued
    std::uint64_t data_bytes = 0;         ///< DATA payload bytes queued (changed blocks)
    std::uint64_t wire_bytes = 0;         ///< whole frames queued (headers included), all types
    std::uint64_t commits_applied = 0;    ///< standby: whole commits applied
    std::uint64_t commits_acked = 0;      ///< active: commits every required standby applied
    std::uint64_t resyncs = 0;            ///< resync exchanges completed (active side)
    std::uint64_t resync_blocks = 0;      ///< blocks sent by resyncs
    std::uint64_t resync_bytes = 0;       ///< their payload bytes
    std::uint64_t resync_blocks_same = 0; ///< blocks a resync found identical and did not send
    std::uint64_t stale_epoch = 0;        ///< frames (or announces) from an older epoch: refused
    std::uint64_t not_from_active = 0;    ///< frames for a replica from a node that is not its active
    std::uint64_t unknown_checkpoint = 0; ///< frames naming a checkpoint id never announced
    std::uint64_t bad_commits = 0;        ///< DATA that did not fit (slot, generation, range, order): discarded
    std::uint64_t promotions = 0, demotions = 0;
    std::uint64_t refusals_sent = 0;     ///< standby: REFUSED frames sent (frames it did not apply)
    std::uint64_t refusals_received = 0; ///< active: REFUSED frames received
    std::uint64_t fenced = 0;            ///< active: stepped down because a standby follows a newer active
};

class Replicator final : public LinkListener {
public:
    Replicator(PeerLink& link, ReplicaHost& host);
    ~Replicator() override;

    /// This node is the active replica (created here): standbys up now join at once.
    void activate(const std::shared_ptr<Checkpoint>& c);
    /// After an engine restart: takes the checkpoint back in the role its META records.
    void adopt(const std::shared_ptr<Checkpoint>& c);
    /// The checkpoint is going away here (deleted, retention over); standbys are told when it
    /// was active here.
    void forget(const std::shared_ptr<Checkpoint>& c);
    /// Makes this node the active replica with a higher epoch; returns the epoch.
    Result<std::uint64_t> promote(const std::shared_ptr<Checkpoint>& c);
    /// Makes this node a standby (same epoch) until an active announces itself.
    Status demote(const std::shared_ptr<Checkpoint>& c);

    /// Member timeouts and the lag words in META (timer path).
    void tick(std::int64_t now_ns);

    const ReplicationCounters& counters() const { return counters_; }
    struct MemberView {
        std::uint16_t node;
        const char* state; ///< "in-sync", "resync", "down"
        std::uint64_t pending_commits;
    };
    std::vector<MemberView> members_of(const Checkpoint& c) const;

    /// One checkpoint's replication figures for the stats region (replicator_stats.cpp).
    struct CheckpointFigures {
        std::uint64_t commits_sent = 0, data_frames = 0, data_bytes = 0, wire_bytes = 0;
        std::uint64_t commits_acked = 0, commits_applied = 0;
        shm::LatencyHistogram ack_latency{}; ///< capture to acknowledged by every required standby
        std::uint32_t peer_count = 0;        ///< lag entries (required standbys, active only)
        shm::PeerLag peers[shm::kStatsMaxPeers] = {};
    };
    /// Timer path: refreshes every checkpoint's lag entries (one pass over the pending commits),
    /// then calls out(checkpoint, figures) for each; no allocation.
    template <typename F>
    void collect_stats(F&& out) {
        refresh_lag_figures();
        for (const auto& r : repls_) out(*r->ckpt, r->figures);
    }

    // LinkListener
    void on_peer_up(std::uint16_t node) override;
    void on_peer_down(std::uint16_t node, const std::vector<Completion>& abandoned) override;
    void on_frame(std::uint16_t node, const net::DecodedFrame& f) override;
    void on_completed(std::uint16_t node, Completion c) override;

private:
    enum class MemberState : std::uint8_t { kDown, kAwaitHashes, kInSync };
    struct Reported {
        std::uint64_t generation = 0, data_offset = 0, capacity = 0, id_hash = 0;
        std::vector<std::uint64_t> hashes;
    };
    struct Member {
        MemberState state = MemberState::kDown;
        bool required = false; ///< part of the replica set: commits wait for it
        bool synced = false;   ///< completed a resync with this active: a down one stays required
        std::int64_t down_since_ns = 0;
        std::map<std::uint32_t, Reported> reported; ///< resync: the standby's sections by slot
        std::vector<std::uint64_t> barrier;         ///< commits the running resync covers
        std::uint64_t rejoin_from = 0;              ///< first link_seq queued after the last join
        std::uint32_t refused_rejoins = 0;          ///< resyncs a REFUSED started since the last good one
    };
    static constexpr std::uint32_t kMaxRefusedRejoins = 3;
    struct Repl {
        std::shared_ptr<Checkpoint> ckpt;
        std::uint32_t wire_id = 0;               ///< ours, when active here
        std::map<std::uint16_t, Member> members; ///< active: one per configured peer
        // standby
        std::uint16_t active_node = 0;
        std::uint32_t remote_wire_id = 0;
        bool rx_open = false; ///< a commit is being received
        std::uint32_t rx_slot = 0, rx_next = 0;
        std::uint64_t rx_generation = 0, rx_seq = 0;
        // active: lag
        std::uint64_t lag_commits = 0, lag_bytes = 0;
        CheckpointFigures figures; ///< this checkpoint's share of the counters, for the stats region
    };
    struct Pending {
        Repl* repl;
        std::uint32_t slot;
        std::uint64_t generation, seq, bytes;
        std::vector<std::uint16_t> waiting; ///< standbys that have not applied it
        std::int64_t captured_ns = 0;       ///< CLOCK_MONOTONIC at capture: ack latency and lag time
    };
    enum CompletionKind : std::uint8_t { kCommitDone = 1, kResyncDone = 2 };

    Repl& repl_of(const std::shared_ptr<Checkpoint>& c);
    Repl* by_wire(std::uint32_t wire_id);
    Repl* by_remote(std::uint16_t node, std::uint32_t remote_wire_id);
    void become_active(Repl& r, std::uint64_t epoch);
    void become_standby(Repl& r, std::uint64_t epoch, std::uint16_t active_node, std::uint32_t remote_wire_id);
    void on_event(Repl& r, ReplEvent&& ev);
    void join(Repl& r, std::uint16_t node);
    void announce(Repl& r, std::uint16_t node);
    void send_commit(Repl& r, std::uint16_t node, const ReplEvent& ev, std::span<const std::byte> section,
                     Completion last);
    void send_section(Repl& r, std::uint16_t node, const ReplEvent& ev);
    void finish_resync(Repl& r, std::uint16_t node, Member& m);
    void complete(std::uint64_t commit_id, std::uint16_t node);
    void drop_member(Repl& r, std::uint16_t node);
    void publish(Repl& r);
    void refresh_lag_figures();
    bool queue(std::uint16_t node, net::FrameType type, std::uint16_t flags, std::uint64_t epoch,
               std::span<const std::byte> body, Completion c = {});
    // standby handlers
    void on_announce(std::uint16_t node, const net::DecodedFrame& f);
    bool on_section(Repl& r, const net::DecodedFrame& f);
    bool on_data(Repl& r, const net::DecodedFrame& f);
    void on_refused(std::uint16_t node, const net::DecodedFrame& f);
    void refuse(std::uint16_t node, const net::DecodedFrame& f, net::RefuseReason why, std::uint64_t epoch);
    void on_hashes(std::uint16_t node, const net::DecodedFrame& f);
    void send_hashes(Repl& r);

    PeerLink& link_;
    ReplicaHost& host_;
    std::vector<std::unique_ptr<Repl>> repls_;
    std::uint32_t next_wire_id_ = 1;
    std::uint64_t next_commit_id_ = 1;
    std::uint64_t next_resync_token_ = 1;
    std::map<std::uint64_t, Pending> pending_;                               ///< by commit id
    std::map<std::uint64_t, std::pair<Repl*, std::uint16_t>> resync_tokens_; ///< RESYNC_DONE in flight
    std::int64_t now_ns_ = 0;
    ReplicationCounters counters_;
    std::vector<std::byte> body_;
};

} // namespace ckpt::engine
