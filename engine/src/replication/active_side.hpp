#pragma once
/// The active side of replication: for each checkpoint active here, its replica set (one member per
/// configured peer), the commits each standby has not applied yet, and the resync that brings a
/// (re)joining standby up to date (it reports block hashes, we install every section and send the
/// blocks that differ). It turns commits (ReplEvents: the changed blocks whose hash differs from
/// the replicated one) into DATA frames for every standby in sync and publishes the per-section
/// acknowledged sequence that synchronous commits wait for.
#include "ckpt/net/wire_format.hpp"
#include "ckpt/shm/stats_layout.hpp"
#include "link/peer_stream.hpp"
#include "replication/outbox.hpp"
#include "replication/peer_fencer.hpp"
#include "replication/replica_host.hpp"
#include "store/checkpoint.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

namespace ckpt::engine {

struct Replica;

/// One configured peer as a member of a checkpoint's replica set.
struct Member {
    /// kResyncing: the resync is being sent section by section, a budget per loop turn.
    enum class State : std::uint8_t { kDown, kAwaitHashes, kResyncing, kInSync };
    struct Reported { ///< resync: a section as the standby holds it
        std::uint64_t generation = 0, data_offset = 0, capacity = 0, id_hash = 0;
        std::vector<std::uint64_t> hashes;
    };
    State state = State::kDown;
    bool chosen = false;   ///< in the replica set (config `replicas`): joined, or down and not yet dropped
    bool required = false; ///< part of the replica set: commits wait for it
    bool synced = false;   ///< completed a resync with this active: a down one stays required
    std::int64_t down_since_ns = 0;
    std::int64_t fence_not_before_ns = 0;       ///< after a restart: a live peer has until then to be heard
    std::map<std::uint32_t, Reported> reported; ///< resync: the standby's sections by slot
    std::uint64_t reported_blocks = 0;          ///< block hashes held in `reported` (bounded)
    std::vector<std::uint64_t> barrier;         ///< commits the running resync covers
    std::uint32_t resync_slot = 0;              ///< kResyncing: next slot to send (those before are sent)
    std::uint32_t resync_sections = 0;          ///< kResyncing: sections sent so far
    std::uint64_t resync_blocks = 0;            ///< kResyncing: differing blocks sent so far
    std::uint64_t rejoin_from = 0;              ///< first link_seq queued after the last join
    std::uint32_t refused_rejoins = 0;          ///< resyncs a REFUSED started since the last good one
    std::uint64_t join = 0;                     ///< the latest join's id: its report echoes it (HASHES)
    bool done_pending = false;                  ///< its RESYNC_DONE is not acknowledged yet
    /// Coalescing (docs/PROTOCOL.md, "Batches"): the one-frame commit queued last to this node for
    /// this checkpoint, which later small commits may join while the frame has not been
    /// transmitted (the link says so: it is still the newest frame in the node's backlog).
    struct OpenBatch {
        std::uint64_t link_seq = 0; ///< 0: none
        std::uint64_t epoch = 0;
        std::uint64_t first_id = 0, last_id = 0; ///< commit ids it completes (completes: true)
        std::size_t body_len = 0;
        std::uint32_t entries = 0;     ///< 1: still a plain DATA frame
        std::uint16_t first_flags = 0; ///< the first commit's own DATA flags
        bool completes = false;        ///< its commits are waited for (else: a standby not required yet)
    } batch;
};

/// In sync with the active: its resync ended and it applied everything that resync covered.
inline bool in_sync_member(const Member& m) {
    return m.state == Member::State::kInSync && m.barrier.empty() && !m.done_pending;
}

/// What the active keeps about a checkpoint active here.
struct ActiveState {
    std::map<std::uint16_t, Member> members; ///< one per configured peer (chosen or not)
    std::uint64_t lag_commits = 0, lag_bytes = 0;
};

class ActiveSide {
public:
    using Clock = std::function<std::int64_t()>;
    using Replicas = std::vector<std::unique_ptr<Replica>>;
    /// Counts into `link_counts` (resyncs) and `totals` (commits sent, acknowledged, lost).
    ActiveSide(Outbox& out, ReplicaHost& host, shm::LinkStats& link_counts, shm::ReplicationTotals& totals,
               const Replicas& replicas, Clock clock)
        : out_(out), host_(host), link_counts_(link_counts), totals_(totals), replicas_(replicas),
          clock_(std::move(clock)) {
        plan_cur_.reserve(net::kMaxDataRuns);
        plan_next_.reserve(net::kMaxDataRuns);
    }

    /// The checkpoint became active here: standbys up now join at once (announce, then resync).
    void start(Replica& r);
    /// Adopted as active after an engine restart: which standbys held this state is unknown, so
    /// every configured peer is a required member that is down (sync commits fail naming it)
    /// until it rejoins and resyncs, and the commits captured meanwhile (`held`: slot and state)
    /// wait for that resync. Applies member_timeout_ms as for any required member that is down.
    void start_after_restart(Replica& r, const std::vector<std::pair<std::uint32_t, SectionState>>& held);
    /// It stops being active here: commits waiting for standbys will never be acknowledged by this
    /// node, resyncs in flight are void, the lag is zero.
    void stop(Replica& r);
    /// It steps down (demoted, or fenced by a newer epoch): the commits no standby acknowledged are
    /// given up. Says so in the log (count, range of the change sequence, sections), in META (the
    /// library's role event) and in the counters (ckptstat). Call before stop().
    void give_up_pending(Replica& r);
    /// The oldest section create/delete/expiration change (its number in the change sequence) that
    /// a required standby has not applied yet; 0 when there is none.
    std::uint64_t oldest_unapplied_directory_change(const Replica& r) const;
    /// It is deleted here: standbys are told (then stop()).
    void unlink(Replica& r);
    /// A commit or section change captured on this node.
    void on_event(Replica& r, ReplEvent&& ev);

    /// HASHES from a standby (resync).
    void on_hashes(Replica& r, std::uint16_t node, const net::DecodedFrame& f, const net::HashesBody& h);
    /// REFUSED from a standby. Returns true when it says another node is active: this one was
    /// fenced and must step down (the caller makes it a standby).
    bool on_refused(Replica& r, std::uint16_t node, const net::RefusedBody& b);
    /// The standby acknowledged a frame that carried a completion of ours.
    void on_completed(std::uint16_t node, Completion c);
    void on_peer_up(std::uint16_t node);
    void on_peer_down(std::uint16_t node, const std::vector<Completion>& abandoned);
    /// Member timeouts, fencing of silent members, and the lag words in META (timer path).
    void tick(std::int64_t now_ns);
    /// Sends the next part of every running resync (every loop turn): whole sections, until
    /// kResyncTurnBudget bytes were hashed or the peer's queue holds a window of frames. Returns
    /// sections sent (0: nothing to do now).
    std::size_t pump();
    /// Bytes of sections one pump() hashes and sends per resync at most (at least one section).
    static constexpr std::uint64_t kResyncTurnBudget = std::uint64_t{4} << 20;
    /// With a fencer, a required standby that went silent is fenced through it and dropped from
    /// the replica set only once that succeeded; until then (and while it fails) sync commits
    /// fail naming it. member_timeout_ms does not apply then. Null: member_timeout_ms decides.
    void set_fencer(PeerFencer* f) { fencer_ = f; }

    struct MemberView {
        std::uint16_t node;
        const char* state; ///< "in-sync", "resync", "down"
        std::uint64_t pending_commits;
    };
    std::vector<MemberView> members_of(const Replica& r) const;
    /// Commits that joined a frame queued before them (coalesced) instead of a frame of their own
    /// (not in the stats region yet: data_frames against commits_sent shows the same).
    std::uint64_t commits_coalesced() const { return coalesced_; }
    /// Refreshes every active checkpoint's lag entries in its figures (one pass over the pending
    /// commits; timer path, no allocation).
    void refresh_lag_figures();

private:
    struct Pending {
        Replica* repl;
        std::uint32_t slot;
        std::uint64_t generation, seq, bytes;
        std::uint64_t change = 0;           ///< its number in the checkpoint's change sequence
        std::vector<std::uint16_t> waiting; ///< standbys that have not applied it
        std::int64_t captured_ns = 0;       ///< CLOCK_MONOTONIC at capture: ack latency and lag time
        bool directory = false;             ///< a section create/delete/expiration, not a commit: no seq, no lag
        struct Other {
            std::uint32_t slot;
            std::uint64_t generation, seq;
        };
        std::vector<Other> group; ///< a write group: its other members, acknowledged with this one
    };
    /// kCommitsDone: a batch frame (several commits coalesced) completes the commits of one
    /// checkpoint, ids id .. id + extent, that wait for the node and are not behind a resync.
    enum CompletionKind : std::uint8_t { kCommitDone = 1, kResyncDone = 2, kCommitsDone = 3 };
    static constexpr std::uint32_t kMaxRefusedRejoins = 3;

    /// Announces the checkpoint to `node` and resyncs it. `required`: commits wait for it from
    /// now on (the replica set of a new or promoted active); otherwise only once it is in sync,
    /// unless it already held this active's state.
    void join(Replica& r, std::uint16_t node, bool required);
    /// Chooses peers that are up (lowest node id first) and joins them until the replica set has
    /// the standbys `replicas` asks for (every configured peer when it is 0).
    void fill_replica_set(Replica& r, bool at_start);
    void announce(Replica& r, std::uint16_t node);
    /// `group_more`: a member of a write group other than the last (its last frame says more follow).
    /// `coalesce`: a commit of one frame may join the one-frame commit queued just before it to
    /// the same node, if that frame has not been transmitted yet (never a group's, never a resync's).
    void send_commit(Replica& r, std::uint16_t node, const ReplEvent& ev, std::span<const std::byte> section,
                     Completion last, bool group_more = false, bool coalesce = false);
    /// Adds a one-frame commit (its DATA body encoded from `runs`, `flags` its own) to the node's
    /// open batch; false when there is none, or it was transmitted, or the commit does not fit.
    bool append_to_batch(Replica& r, std::uint16_t node, Member& m, net::DataBody& d,
                         std::span<const net::DataRun> runs, std::span<const std::byte> section, std::uint16_t flags,
                         std::size_t body_len, std::uint64_t payload_bytes, Completion last);
    /// A write group (ReplEvent::Kind::kGroup): one pending commit, its members back to back in
    /// each standby's stream, applied there all or none.
    void on_group(Replica& r, ReplEvent&& ev);
    void send_section(Replica& r, std::uint16_t node, const ReplEvent& ev, Completion done = {});
    void finish_resync(Replica& r, std::uint16_t node, Member& m);
    /// One budget's worth of a running resync (kResyncing); returns sections sent.
    std::size_t resync_step(Replica& r, std::uint16_t node, Member& m);
    void complete(std::uint64_t commit_id, std::uint16_t node);
    void drop_member(Replica& r, std::uint16_t node);
    void forget_pending(const Replica& r);
    void publish(Replica& r);

    Outbox& out_;
    ReplicaHost& host_;
    shm::LinkStats& link_counts_;
    shm::ReplicationTotals& totals_;
    const Replicas& replicas_;
    Clock clock_;
    std::uint64_t next_commit_id_ = 1;
    std::uint64_t next_resync_token_ = 1;
    /// Join ids (ANNOUNCE, echoed by the HASHES report that answers it): from a random start, so
    /// that an id is not reused by the next run of this engine either; never 0 (an older peer's).
    std::uint64_t next_join_ = first_join_id();
    static std::uint64_t first_join_id();
    std::map<std::uint64_t, Pending> pending_;                                  ///< by commit id
    std::map<std::uint64_t, std::pair<Replica*, std::uint16_t>> resync_tokens_; ///< RESYNC_DONE in flight
    std::int64_t now_ns_ = 0;
    PeerFencer* fencer_ = nullptr;
    /// send_commit's frame planning: the runs of the frame being planned and of the next one
    /// (reserved once, kMaxDataRuns each: planning a commit allocates nothing).
    std::vector<net::DataRun> plan_cur_, plan_next_;
    std::uint64_t coalesced_ = 0;
};

} // namespace ckpt::engine
