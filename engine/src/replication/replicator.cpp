#include "replication/replicator.hpp"

#include "ckpt/common/clock.hpp"
#include "ckpt/shm/segment_layout.hpp"

#include <algorithm>

namespace ckpt::engine {

using namespace ckpt::net;
using shm::kRoleActive;
using shm::kRoleStandby;

Replicator::Replicator(PeerLink& link, ReplicaHost& host, Clock clock)
    : link_(link), host_(host), link_counts_(link.counters()), out_(link, totals_),
      active_(out_, host, link_counts_, totals_, replicas_, clock ? std::move(clock) : Clock(&mono_ns)),
      standby_(host, out_, link_counts_, totals_) {
    link_.set_listener(this);
}

Replicator::~Replicator() {
    link_.set_listener(nullptr);
    for (auto& r : replicas_) r->ckpt->stop_replicating(false);
}

Replica& Replicator::replica_of(const std::shared_ptr<Checkpoint>& c) {
    for (auto& r : replicas_)
        if (r->ckpt == c) return *r;
    auto r = std::make_unique<Replica>(c);
    r->wire_id = next_wire_id_++;
    for (const auto& p : link_.config().peers) r->active.members[p.node_id] = Member{};
    replicas_.push_back(std::move(r));
    return *replicas_.back();
}

Replica* Replicator::by_wire(std::uint32_t wire_id) {
    for (auto& r : replicas_)
        if (r->wire_id == wire_id) return r.get();
    return nullptr;
}

Replica* Replicator::by_remote(std::uint16_t node, std::uint32_t remote_wire_id) {
    for (auto& r : replicas_)
        if (r->active_node == node && r->remote_wire_id == remote_wire_id && r->ckpt->role() == kRoleStandby)
            return r.get();
    return nullptr;
}

// ------------------------------------------------------------------------------------------
// Roles
// ------------------------------------------------------------------------------------------

void Replicator::activate(const std::shared_ptr<Checkpoint>& c) {
    // A checkpoint created here starts at count 1 made by this node: a replica created elsewhere
    // at the same time (two nodes creating one name while partitioned) has another epoch.
    become_active(replica_of(c), own_epoch(c->epoch()));
}

void Replicator::adopt(const std::shared_ptr<Checkpoint>& c) {
    Replica& r = replica_of(c);
    if (c->role() == kRoleStandby) {
        // A commit half-received before the restart left its bytes in the shadow, which a later
        // promotion would serve (resync, rollback) as committed: a state no commit produced.
        r.standby.applier.discard_after_restart();
        become_standby(r, c->epoch(), 0, 0); // the active announces itself when the link is up
    } else {
        // Commits captured since the restart (and the unacknowledged ones before it) are held
        // (Checkpoint::holding_acks): they and every later sync commit wait for the standbys.
        auto held = c->unacknowledged_sections();
        become_active(r, own_epoch(c->epoch()));
        active_.start_after_restart(r, held);
    }
}

std::uint64_t Replicator::own_epoch(std::uint64_t epoch) const {
    // META starts at 1 (a local checkpoint's); epochs before the node-id encoding have count 0.
    return shm::epoch_count(epoch) == 0 ? shm::next_epoch(epoch, link_.node_id()) : epoch;
}

void Replicator::become_active(Replica& r, std::uint64_t epoch) {
    Checkpoint& c = *r.ckpt;
    standby_.reset(r);
    c.set_role(kRoleActive, epoch, link_.node_id());
    c.set_window(link_.config().async_window, link_.config().window_policy);
    c.set_replicating([this, rp = &r](ReplEvent&& ev) { active_.on_event(*rp, std::move(ev)); });
    active_.start(r);
}

void Replicator::become_standby(Replica& r, std::uint64_t epoch, std::uint16_t active_node,
                                std::uint32_t remote_wire_id) {
    Checkpoint& c = *r.ckpt;
    const bool was_active = c.role() == kRoleActive;
    if (was_active) active_.give_up_pending(r); // reported: log, META (role event), counters
    c.stop_replicating(false);                  // commits not replicated stay unacknowledged: their writers fail
    active_.stop(r);
    standby_.reset(r);
    r.active_node = active_node;
    r.remote_wire_id = remote_wire_id;
    c.set_role(kRoleStandby, epoch, active_node);
    c.publish_lag(0, 0, 0, 0);
    c.publish_acks(); // wakes sync committers (they fail) and subscribers (the role event)
    if (was_active) ++link_counts_.demotions;
}

Result<std::uint64_t> Replicator::promote(const std::shared_ptr<Checkpoint>& c) {
    Replica& r = replica_of(c);
    if (c->role() == kRoleActive) return c->epoch();
    const std::uint64_t epoch = shm::next_epoch(c->epoch(), link_.node_id()); // never equal to another node's
    host_.replication_log("checkpoint '" + printable_name(c->name()) + "': promoted to active, epoch " +
                          std::to_string(epoch) +
                          (r.active_node ? " (was following " + node_str(r.active_node) + ")" : ""));
    ++link_counts_.promotions;
    become_active(r, epoch);
    return epoch;
}

Result<std::uint64_t> Replicator::claim(const std::shared_ptr<Checkpoint>& c, bool cluster_managed) {
    Replica& r = replica_of(c);
    if (c->role() == kRoleActive) return c->epoch();
    const std::string name = printable_name(c->name());
    std::string why;
    if (cluster_managed) {
        why = "the cluster manager owns promotion (fence_peer_command is set) and has not promoted this node";
        if (r.active_node) why += "; the active replica is on " + node_str(r.active_node);
    } else if (r.active_node && link_.is_up(r.active_node)) {
        why = node_str(r.active_node) + " holds the active replica at epoch " + std::to_string(c->epoch()) +
              " and is alive";
    }
    if (!why.empty()) {
        host_.replication_log("checkpoint '" + name + "': an application's claim to the active role refused: " + why);
        return fail(Error::kBadOperation, "checkpoint '" + name + "' cannot be made active on this node: " + why +
                                              " (a second active replica is never created; the active node's "
                                              "demotion or death, or the cluster manager's promotion, comes first)");
    }
    return promote(c);
}

Status Replicator::demote(const std::shared_ptr<Checkpoint>& c) {
    Replica& r = replica_of(c);
    if (c->role() == kRoleStandby) return {};
    host_.replication_log("checkpoint '" + printable_name(c->name()) + "': demoted to standby at epoch " +
                          std::to_string(c->epoch()));
    become_standby(r, c->epoch(), 0, 0);
    return {};
}

void Replicator::forget(const std::shared_ptr<Checkpoint>& c) {
    auto it = std::find_if(replicas_.begin(), replicas_.end(), [&](const auto& r) { return r->ckpt == c; });
    if (it == replicas_.end()) return;
    Replica& r = **it;
    if (c->role() == kRoleActive) active_.unlink(r);
    c->stop_replicating(false);
    active_.stop(r);
    replicas_.erase(it);
}

std::vector<Replicator::MemberView> Replicator::members_of(const Checkpoint& c) const {
    for (const auto& r : replicas_)
        if (r->ckpt.get() == &c) return active_.members_of(*r);
    return {};
}

std::uint64_t Replicator::oldest_unapplied_directory_change(const Checkpoint& c) const {
    for (const auto& r : replicas_)
        if (r->ckpt.get() == &c) return active_.oldest_unapplied_directory_change(*r);
    return 0;
}

void Replicator::on_peer_down(std::uint16_t node, const std::vector<Completion>& abandoned) {
    active_.on_peer_down(node, abandoned);
    // A standby keeps a commit cut in half staged (never applied). Discarding it here would lose
    // it when only this side declared the active down (one-way loss): the active then keeps its
    // stream, the rest of the commit arrives in order, is refused for lack of its first fragments,
    // and is ACKed all the same, so the active counted as replicated a commit this node never
    // applied (a sync commit returned OK). The stream decides instead: a continued stream completes
    // the commit; a restarted one (the active declared us down too, or restarted) begins with an
    // ANNOUNCE, and become_standby discards it.
}

// ------------------------------------------------------------------------------------------
// Frames: which side each is for, fenced by epoch
// ------------------------------------------------------------------------------------------

void Replicator::on_frame(std::uint16_t node, const DecodedFrame& f, FrameBuf* buffer) {
    switch (f.header.type) {
    case FrameType::kAnnounce:
        return on_announce(node, f);
    case FrameType::kHashes:
        return on_hashes(node, f);
    case FrameType::kRefused:
        return on_refused(node, f);
    case FrameType::kData:
    case FrameType::kSection:
    case FrameType::kResyncDone:
        return on_stream_frame(node, f, buffer);
    default:
        return;
    }
}

std::size_t Replicator::pump() {
    std::size_t n = active_.pump();
    for (const auto& r : replicas_)
        if (r->standby.reporting && r->ckpt->role() == kRoleStandby) n += standby_.report_step(*r);
    return n;
}

std::uint64_t Replicator::settle() {
    std::uint64_t n = 0;
    for (const auto& r : replicas_) n += r->standby.applier.settle();
    return n;
}

ReplicaApplier* Replicator::applier_of(const Checkpoint& c) {
    for (const auto& r : replicas_)
        if (r->ckpt.get() == &c) return &r->standby.applier;
    return nullptr;
}

void Replicator::on_hashes(std::uint16_t node, const DecodedFrame& f) {
    HashesBody h;
    if (decode_hashes_body(f.body, h) != Reject::kNone) {
        ++link_counts_.bad_commits;
        return;
    }
    Replica* r = by_wire(h.checkpoint_id);
    if (!r || r->ckpt->role() != kRoleActive) {
        ++link_counts_.unknown_checkpoint;
        return;
    }
    if (f.header.epoch != r->ckpt->epoch()) { // a report for an earlier announce of ours
        ++link_counts_.stale_epoch;
        return;
    }
    active_.on_hashes(*r, node, f, h);
}

void Replicator::on_refused(std::uint16_t node, const DecodedFrame& f) {
    RefusedBody b;
    if (decode_refused_body(f.body, b) != Reject::kNone) {
        ++link_counts_.bad_commits;
        return;
    }
    ++link_counts_.refusals_received;
    Replica* r = by_wire(b.checkpoint_id);
    if (!r || r->ckpt->role() != kRoleActive) return; // about a role this node no longer has
    if (active_.on_refused(*r, node, b)) become_standby(*r, r->ckpt->epoch(), 0, 0); // fenced
}

void Replicator::on_stream_frame(std::uint16_t node, const DecodedFrame& f, FrameBuf* buffer) {
    if (f.body.size() < 4) {
        ++link_counts_.bad_commits;
        return standby_.refuse(node, f, RefuseReason::kBadCommit, 0);
    }
    const std::uint32_t wire = body_checkpoint_id(f.body);
    Replica* r = by_remote(node, wire);
    if (!r) {
        // Never announced, or from a node that is no longer our active: a former active still
        // sending at an older epoch is the case fencing exists for.
        Replica* former = nullptr;
        for (auto& x : replicas_)
            if (x->active_node == node && x->remote_wire_id == wire) former = x.get();
        if (!former) {
            ++link_counts_.unknown_checkpoint;
            return standby_.refuse(node, f, RefuseReason::kUnknownCheckpoint, 0);
        }
        if (f.header.epoch < former->ckpt->epoch()) {
            ++link_counts_.stale_epoch;
            return standby_.refuse(node, f, RefuseReason::kStaleEpoch, former->ckpt->epoch());
        }
        ++link_counts_.not_from_active;
        return standby_.refuse(node, f, RefuseReason::kNotFromActive, former->ckpt->epoch());
    }
    if (f.header.epoch < r->ckpt->epoch()) {
        ++link_counts_.stale_epoch;
        return standby_.refuse(node, f, RefuseReason::kStaleEpoch, r->ckpt->epoch());
    }
    if (node != r->active_node) {
        ++link_counts_.not_from_active;
        return standby_.refuse(node, f, RefuseReason::kNotFromActive, r->ckpt->epoch());
    }
    bool ok = true;
    if (f.header.type != FrameType::kData) standby_.interrupt_group(*r);
    if (f.header.type == FrameType::kData) {
        ok = standby_.on_data(*r, f, buffer);
    } else if (f.header.type == FrameType::kSection) {
        const auto result = standby_.on_section(*r, f);
        if (result == StandbySide::SectionResult::kCheckpointDeleted) {
            auto keep = r->ckpt;
            forget(keep);
            host_.unlink_replica(keep);
            return;
        }
        ok = result == StandbySide::SectionResult::kApplied;
    }
    // RESYNC_DONE: everything before it was applied in order (or refused, and said so).
    if (f.header.type == FrameType::kResyncDone) r->standby.resyncing = false;
    if (!ok) standby_.refuse(node, f, RefuseReason::kBadCommit, r->ckpt->epoch());
}

void Replicator::on_announce(std::uint16_t node, const DecodedFrame& f) {
    AnnounceBody a;
    if (decode_announce_body(f.body, a) != Reject::kNone || validate_name(a.name).ok() == false) {
        ++link_counts_.bad_commits;
        return;
    }
    const std::uint64_t epoch = f.header.epoch;
    CheckpointAttributes attrs;
    attrs.creation_flags = a.creation_flags;
    attrs.checkpoint_size = a.checkpoint_size;
    attrs.max_section_size = a.max_section_size;
    attrs.retention_ns = a.retention_ns;
    attrs.max_sections = a.max_sections;
    attrs.max_section_id_size = a.max_section_id_size;
    attrs.block_size = a.block_size;
    if (!validate_attributes(attrs)) {
        ++link_counts_.bad_commits;
        host_.replication_log(node_str(node) + " announced checkpoint '" + std::string(a.name) +
                              "' with invalid attributes: ignored");
        return;
    }
    const std::string name(a.name);
    auto c = host_.find_checkpoint(name);
    if (c && !(c->attributes() == attrs)) {
        ++link_counts_.bad_commits;
        host_.replication_log(node_str(node) + " announced checkpoint '" + printable_name(name) +
                              "' with other creation attributes than this node's: not replicated "
                              "(delete one of them)");
        return;
    }
    if (c) {
        const std::uint64_t mine = c->epoch();
        if (c->role() == kRoleActive) {
            // Two actives: the higher epoch wins. Epochs carry the node that made them, so two
            // promotions never tie; an equal epoch from another node comes only from engines
            // before that encoding (both count 1 from one shared epoch): the lower node id wins
            // there, deterministically on both sides, and the log says whose commits go.
            if (epoch == mine && node != link_.node_id())
                host_.replication_log("checkpoint '" + printable_name(name) + "': " + node_str(node) +
                                      " is active at this node's epoch " + std::to_string(epoch) +
                                      " (an epoch from before epochs carried their node)");
            if (epoch < mine || (epoch == mine && node > link_.node_id())) {
                ++link_counts_.stale_epoch;
                return standby_.refuse(node, f, RefuseReason::kStaleEpoch, mine); // the sender steps down
            }
            host_.replication_log("checkpoint '" + printable_name(name) + "': " + node_str(node) +
                                  " is active at epoch " + std::to_string(epoch) + " (this node had " +
                                  std::to_string(mine) + "): stepping down to standby");
        } else if (epoch < mine) {
            ++link_counts_.stale_epoch;
            return standby_.refuse(node, f, RefuseReason::kStaleEpoch, mine); // it was fenced: tell it
        }
    } else {
        // A peer's frame must not make this node allocate without bound: the replica's size and
        // slot count are checked against this node's configured limits first.
        const LinkConfig& lc = link_.config();
        if (attrs.checkpoint_size > lc.replica_max_bytes || attrs.max_sections > lc.replica_max_sections) {
            ++totals_.announces_over_limit;
            host_.replication_log(node_str(node) + " announced checkpoint '" + printable_name(name) + "' of " +
                                  std::to_string(attrs.checkpoint_size) + " bytes and " +
                                  std::to_string(attrs.max_sections) + " section slots, over this node's limits (" +
                                  "replica_max_bytes = " + std::to_string(lc.replica_max_bytes) +
                                  ", replica_max_sections = " + std::to_string(lc.replica_max_sections) +
                                  "): refused, no replica created");
            return standby_.refuse(node, f, RefuseReason::kOverLimit, 0);
        }
        auto created = host_.create_replica(name, attrs);
        if (!created) {
            host_.replication_log("cannot create replica of '" + printable_name(name) + "' announced by " +
                                  node_str(node) + ": " + created.message() +
                                  " (refused: its sync commits fail until this is fixed)");
            // Said, not swallowed: without the refusal the active waits for HASHES that never come
            // and every sync commit times out instead of failing at once.
            return standby_.refuse(node, f, RefuseReason::kNoReplica, 0);
        }
        c = *created;
    }
    Replica& r = replica_of(c);
    become_standby(r, epoch, node, a.checkpoint_id);
    standby_.send_hashes(r, a.join);
}

} // namespace ckpt::engine
