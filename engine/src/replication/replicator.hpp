#pragma once
/// Replication above the peer link: roles and epochs. Every replicated checkpoint is active here
/// (ActiveSide: its standbys, commits they have not applied, resyncs) or a standby here
/// (StandbySide: the active's frames applied whole by the ReplicaApplier). The Replicator moves a
/// checkpoint between the two (creation, adoption after a restart, promotion, demotion, an ANNOUNCE
/// from another active, a REFUSED that says this node was fenced) and routes each frame to the side
/// it is for, fencing by epoch on the way: a frame from an older epoch changes nothing and is
/// counted.
#include "ckpt/common/result.hpp"
#include "ckpt/shm/stats_layout.hpp"
#include "link/link_listener.hpp"
#include "link/peer_link.hpp"
#include "replication/active_side.hpp"
#include "replication/outbox.hpp"
#include "replication/replica.hpp"
#include "replication/replica_host.hpp"
#include "replication/standby_side.hpp"
#include "store/checkpoint.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace ckpt::engine {

class Replicator final : public LinkListener {
public:
    using Clock = ActiveSide::Clock;
    /// `clock` gives CLOCK_MONOTONIC nanoseconds (ack latency, member timeouts); tests pass their own.
    Replicator(PeerLink& link, ReplicaHost& host, Clock clock = {});
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
    /// An application's claim to the active role (saCkptActiveReplicaSet, Session::activate):
    /// the epoch when this node's replica is active already; a promotion when no cluster manager
    /// owns promotion (`cluster_managed`) and no live node holds the active replica; otherwise
    /// BAD_OPERATION, logged, naming what refused it (it would make a second active).
    Result<std::uint64_t> claim(const std::shared_ptr<Checkpoint>& c, bool cluster_managed);
    /// Makes this node a standby (same epoch) until an active announces itself.
    Status demote(const std::shared_ptr<Checkpoint>& c);

    /// Member timeouts, fencing, and the lag words in META (timer path).
    void tick(std::int64_t now_ns) { active_.tick(now_ns); }
    /// Every loop turn: the next part of each running resync (ActiveSide::pump) and of each
    /// HASHES report a standby is sending (StandbySide::report_step); returns work done.
    std::size_t pump();
    /// Every loop turn, after the link's flush (the ACKs of what was applied are out): each
    /// standby's shadow is brought up to the commits applied from held frame buffers
    /// (ReplicaApplier::settle, docs/ARCHITECTURE.md 10.2.1); returns bytes copied.
    std::uint64_t settle();
    /// The applier of a checkpoint this node follows (tests read its counters); nullptr if none.
    ReplicaApplier* applier_of(const Checkpoint& c);
    /// See ActiveSide::set_fencer (null: member_timeout_ms decides, as without a cluster).
    void set_fencer(PeerFencer* f) { active_.set_fencer(f); }

    /// The node-wide replication figures no checkpoint's slot holds; the rest of what replication
    /// counts goes into the link's LinkStats (stale epochs, resyncs, refusals: PeerLink::counters()).
    const shm::ReplicationTotals& counters() const { return totals_; }
    using MemberView = ActiveSide::MemberView;
    std::vector<MemberView> members_of(const Checkpoint& c) const;
    /// The oldest section create/delete/expiration change (change sequence) not yet applied by a
    /// required standby of this active; 0 when none (or not replicated, or not active here).
    std::uint64_t oldest_unapplied_directory_change(const Checkpoint& c) const;

    /// Timer path: refreshes every active checkpoint's lag entries in its counters (one pass over
    /// the pending commits); no allocation.
    void refresh_lag_figures() { active_.refresh_lag_figures(); }

    // LinkListener
    void on_peer_up(std::uint16_t node) override { active_.on_peer_up(node); }
    void on_peer_down(std::uint16_t node, const std::vector<Completion>& abandoned) override;
    void on_frame(std::uint16_t node, const net::DecodedFrame& f, net::FrameBuf* buffer) override;
    void on_completed(std::uint16_t node, Completion c) override { active_.on_completed(node, c); }

private:
    Replica& replica_of(const std::shared_ptr<Checkpoint>& c);
    Replica* by_wire(std::uint32_t wire_id);
    Replica* by_remote(std::uint16_t node, std::uint32_t remote_wire_id);
    /// An epoch to be active at: the checkpoint's own, or the first one of this node's when it
    /// carries no count yet (created here, or written by an engine before the encoding).
    std::uint64_t own_epoch(std::uint64_t epoch) const;
    void become_active(Replica& r, std::uint64_t epoch);
    void become_standby(Replica& r, std::uint64_t epoch, std::uint16_t active_node, std::uint32_t remote_wire_id);
    void on_announce(std::uint16_t node, const net::DecodedFrame& f);
    void on_hashes(std::uint16_t node, const net::DecodedFrame& f);
    void on_refused(std::uint16_t node, const net::DecodedFrame& f);
    /// DATA, SECTION, RESYNC_DONE: for a checkpoint this node follows, from its active, at its epoch.
    void on_stream_frame(std::uint16_t node, const net::DecodedFrame& f, net::FrameBuf* buffer);

    PeerLink& link_;
    ReplicaHost& host_;
    shm::ReplicationTotals totals_{};
    shm::LinkStats& link_counts_; ///< link_.counters(): replication's fields of the node's LinkStats
    Outbox out_;
    std::vector<std::unique_ptr<Replica>> replicas_;
    ActiveSide active_;
    StandbySide standby_;
    std::uint32_t next_wire_id_ = 1;
};

} // namespace ckpt::engine
