#include "replication/replicator.hpp"

#include "ckpt/shm/segment_layout.hpp"

#include <xxhash.h>

#include <algorithm>
#include <ctime>

namespace ckpt::engine {

using namespace ckpt::net;
using shm::kRoleActive;
using shm::kRoleStandby;

namespace {
std::int64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
/// DATA, SECTION, RESYNC_DONE and ANNOUNCE bodies all begin with the sender's u32 checkpoint id
/// (the caller checked the body holds 4 bytes).
std::uint32_t wire_id_of(const DecodedFrame& f) {
    return (std::to_integer<std::uint32_t>(f.body[0]) << 24) | (std::to_integer<std::uint32_t>(f.body[1]) << 16) |
           (std::to_integer<std::uint32_t>(f.body[2]) << 8) | std::to_integer<std::uint32_t>(f.body[3]);
}
std::string node_str(std::uint16_t n) {
    return "node " + std::to_string(n);
}
} // namespace

Replicator::Replicator(PeerLink& link, ReplicaHost& host) : link_(link), host_(host), body_(kMaxFrame) {
    link_.set_listener(this);
}

Replicator::~Replicator() {
    link_.set_listener(nullptr);
    for (auto& r : repls_) r->ckpt->stop_replicating(false);
}

Replicator::Repl& Replicator::repl_of(const std::shared_ptr<Checkpoint>& c) {
    for (auto& r : repls_)
        if (r->ckpt == c) return *r;
    auto r = std::make_unique<Repl>();
    r->ckpt = c;
    r->wire_id = next_wire_id_++;
    for (const auto& p : link_.config().peers) r->members[p.node_id] = Member{};
    repls_.push_back(std::move(r));
    return *repls_.back();
}

Replicator::Repl* Replicator::by_wire(std::uint32_t wire_id) {
    for (auto& r : repls_)
        if (r->wire_id == wire_id) return r.get();
    return nullptr;
}

Replicator::Repl* Replicator::by_remote(std::uint16_t node, std::uint32_t remote_wire_id) {
    for (auto& r : repls_)
        if (r->active_node == node && r->remote_wire_id == remote_wire_id && r->ckpt->role() == kRoleStandby)
            return r.get();
    return nullptr;
}

bool Replicator::queue(std::uint16_t node, FrameType type, std::uint16_t flags, std::uint64_t epoch,
                       std::span<const std::byte> body, Completion c) {
    if (!link_.send_sequenced(node, type, flags, epoch, body, c)) return false;
    counters_.wire_bytes += kFrameOverhead + body.size();
    return true;
}

// ------------------------------------------------------------------------------------------
// Roles
// ------------------------------------------------------------------------------------------

void Replicator::activate(const std::shared_ptr<Checkpoint>& c) {
    Repl& r = repl_of(c);
    become_active(r, std::max<std::uint64_t>(c->epoch(), 1));
}

void Replicator::adopt(const std::shared_ptr<Checkpoint>& c) {
    Repl& r = repl_of(c);
    if (c->role() == kRoleStandby) {
        // A commit half-received before the restart left its bytes in the shadow, which a later
        // promotion would serve (resync, rollback) as committed: a state no commit produced.
        c->discard_staged_after_restart();
        become_standby(r, c->epoch(), 0, 0); // the active announces itself when the link is up
    } else
        become_active(r, std::max<std::uint64_t>(c->epoch(), 1));
}

void Replicator::become_active(Repl& r, std::uint64_t epoch) {
    Checkpoint& c = *r.ckpt;
    c.discard_staged();
    r.rx_open = false;
    // r.active_node / r.remote_wire_id keep naming the former active: its late frames are then
    // recognised (and counted) as stale rather than unknown.
    c.set_role(kRoleActive, epoch, link_.node_id());
    c.set_window(link_.config().async_window, link_.config().window_policy);
    c.set_replicating([this, rp = &r](ReplEvent&& ev) { on_event(*rp, std::move(ev)); });
    // The replica set: standbys reachable now. One that is down joins when it comes back (and
    // resyncs); until then nothing waits for it.
    for (auto& [node, m] : r.members) {
        m = Member{};
        if (link_.is_up(node)) join(r, node);
    }
    publish(r);
}

void Replicator::become_standby(Repl& r, std::uint64_t epoch, std::uint16_t active_node, std::uint32_t remote_wire_id) {
    Checkpoint& c = *r.ckpt;
    const bool was_active = c.role() == kRoleActive;
    c.stop_replicating(false); // commits not replicated stay unacknowledged: their writers fail
    // Commits still waiting for standbys will never be acknowledged by this node now.
    for (auto it = pending_.begin(); it != pending_.end();)
        it = it->second.repl == &r ? pending_.erase(it) : std::next(it);
    for (auto it = resync_tokens_.begin(); it != resync_tokens_.end();)
        it = it->second.first == &r ? resync_tokens_.erase(it) : std::next(it);
    for (auto& [node, m] : r.members) m = Member{};
    r.lag_commits = r.lag_bytes = 0;
    c.discard_staged();
    r.rx_open = false;
    r.active_node = active_node;
    r.remote_wire_id = remote_wire_id;
    c.set_role(kRoleStandby, epoch, active_node);
    c.publish_lag(0, 0, 0, 0);
    if (was_active) ++counters_.demotions;
}

Result<std::uint64_t> Replicator::promote(const std::shared_ptr<Checkpoint>& c) {
    Repl& r = repl_of(c);
    if (c->role() == kRoleActive) return c->epoch();
    const std::uint64_t epoch = c->epoch() + 1;
    host_.replication_log("checkpoint '" + c->name() + "': promoted to active, epoch " + std::to_string(epoch) +
                          (r.active_node ? " (was following " + node_str(r.active_node) + ")" : ""));
    ++counters_.promotions;
    become_active(r, epoch);
    return epoch;
}

Status Replicator::demote(const std::shared_ptr<Checkpoint>& c) {
    Repl& r = repl_of(c);
    if (c->role() == kRoleStandby) return {};
    host_.replication_log("checkpoint '" + c->name() + "': demoted to standby at epoch " + std::to_string(c->epoch()));
    become_standby(r, c->epoch(), 0, 0);
    return {};
}

void Replicator::forget(const std::shared_ptr<Checkpoint>& c) {
    auto it = std::find_if(repls_.begin(), repls_.end(), [&](const auto& r) { return r->ckpt == c; });
    if (it == repls_.end()) return;
    Repl* r = it->get();
    if (c->role() == kRoleActive) {
        SectionBody s;
        s.checkpoint_id = r->wire_id;
        s.op = SectionOp::kUnlinkCheckpoint;
        s.slot = kNoSlot;
        const std::size_t n = encode_section_body(body_, s);
        for (auto& [node, m] : r->members)
            if (m.state != MemberState::kDown) queue(node, FrameType::kSection, 0, c->epoch(), {body_.data(), n});
    }
    c->stop_replicating(false);
    for (auto p = pending_.begin(); p != pending_.end();) p = p->second.repl == r ? pending_.erase(p) : std::next(p);
    for (auto t = resync_tokens_.begin(); t != resync_tokens_.end();)
        t = t->second.first == r ? resync_tokens_.erase(t) : std::next(t);
    repls_.erase(it);
}

// ------------------------------------------------------------------------------------------
// Active side
// ------------------------------------------------------------------------------------------

void Replicator::join(Repl& r, std::uint16_t node) {
    Member& m = r.members[node];
    m.state = MemberState::kAwaitHashes;
    m.required = true;
    m.reported.clear();
    // Frames queued before this point belong to the replica's previous state: a refusal of one
    // of them is expected now, and an acknowledgement of a resync it ends means nothing.
    m.rejoin_from = link_.next_link_seq(node);
    for (auto t = resync_tokens_.begin(); t != resync_tokens_.end();)
        t = t->second.first == &r && t->second.second == node ? resync_tokens_.erase(t) : std::next(t);
    // Commits it has not applied are covered by the resync that follows (the diff is taken
    // from the committed state, which includes them).
    m.barrier.clear();
    for (auto& [id, p] : pending_)
        if (p.repl == &r && std::find(p.waiting.begin(), p.waiting.end(), node) != p.waiting.end())
            m.barrier.push_back(id);
    announce(r, node);
}

void Replicator::announce(Repl& r, std::uint16_t node) {
    const Checkpoint& c = *r.ckpt;
    const CheckpointAttributes& a = c.attributes();
    AnnounceBody b;
    b.checkpoint_id = r.wire_id;
    b.creation_flags = a.creation_flags;
    b.incarnation = c.meta().header().incarnation;
    b.checkpoint_size = a.checkpoint_size;
    b.max_section_size = a.max_section_size;
    b.retention_ns = a.retention_ns;
    b.max_sections = a.max_sections;
    b.max_section_id_size = a.max_section_id_size;
    b.block_size = a.block_size;
    b.commit_seq = c.meta().commit_seq();
    b.name = c.name();
    const std::size_t n = encode_announce_body(body_, b);
    queue(node, FrameType::kAnnounce, 0, c.epoch(), {body_.data(), n});
}

void Replicator::on_event(Repl& r, ReplEvent&& ev) {
    Checkpoint& c = *r.ckpt;
    if (ev.kind != ReplEvent::Kind::kCommit) {
        for (auto& [node, m] : r.members)
            if (m.state == MemberState::kInSync) send_section(r, node, ev);
        return;
    }
    std::uint64_t bytes = 0;
    for (const auto& run : ev.runs) bytes += run.length;
    const std::uint64_t id = next_commit_id_++;
    Pending p{&r, ev.slot, ev.generation, ev.seq, bytes, {}};
    const std::span<const std::byte> section = c.committed_bytes(ev.slot);
    for (auto& [node, m] : r.members) {
        if (!m.required) continue;
        p.waiting.push_back(node);
        if (m.state == MemberState::kInSync) {
            send_commit(r, node, ev, section, Completion{kCommitDone, id});
            ++counters_.commits_sent;
            ++r.figures.commits_sent;
        } else if (m.state == MemberState::kAwaitHashes) {
            m.barrier.push_back(id); // the resync diff will include it
        } // down: it resyncs when it comes back, or stops being required after member_timeout_ms
    }
    if (p.waiting.empty()) {
        c.set_acked(ev.slot, ev.generation, ev.seq); // no standby is required
        return;
    }
    r.lag_commits += 1;
    r.lag_bytes += bytes;
    p.captured_ns = mono_ns(); // ack latency and lag age (stats region); only for commits that wait
    pending_.emplace(id, std::move(p));
    publish(r);
}

void Replicator::send_commit(Repl& r, std::uint16_t node, const ReplEvent& ev, std::span<const std::byte> section,
                             Completion last) {
    const std::uint64_t epoch = r.ckpt->epoch();
    const std::size_t max_payload = link_.max_data_payload();
    DataBody d;
    d.checkpoint_id = r.wire_id;
    d.slot = ev.slot;
    d.generation = ev.generation;
    d.commit_seq = ev.seq;
    d.section_size = ev.size;
    const std::uint16_t base_flags = ev.overwrite ? kFlagOverwrite : 0;
    std::vector<ReplEvent::Run> pieces;
    for (const auto& run : ev.runs)
        for (std::uint64_t off = 0; off < run.length; off += max_payload)
            pieces.push_back({run.offset + off, std::min<std::uint64_t>(max_payload, run.length - off)});
    if (pieces.empty()) pieces.push_back({0, 0}); // a new sequence with no byte changed
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        const auto payload = section.subspan(pieces[i].offset, pieces[i].length);
        d.offset = pieces[i].offset;
        d.length = static_cast<std::uint32_t>(pieces[i].length);
        d.fragment = static_cast<std::uint32_t>(i);
        d.payload_hash = XXH3_64bits(payload.data(), payload.size());
        const std::size_t n = encode_data_body(body_, d, payload);
        const bool is_last = i + 1 == pieces.size();
        queue(node, FrameType::kData, static_cast<std::uint16_t>(base_flags | (is_last ? kFlagLastFragment : 0)), epoch,
              {body_.data(), n}, is_last ? last : Completion{});
        ++counters_.data_frames;
        counters_.data_bytes += payload.size();
        ++r.figures.data_frames;
        r.figures.data_bytes += payload.size();
        r.figures.wire_bytes += kFrameOverhead + n;
    }
}

void Replicator::send_section(Repl& r, std::uint16_t node, const ReplEvent& ev) {
    SectionBody s;
    s.checkpoint_id = r.wire_id;
    s.op = ev.kind == ReplEvent::Kind::kInstall  ? SectionOp::kInstall
           : ev.kind == ReplEvent::Kind::kDelete ? SectionOp::kDelete
                                                 : SectionOp::kExpiration;
    s.slot = ev.slot;
    s.generation = ev.generation;
    s.data_offset = ev.data_offset;
    s.capacity = ev.capacity;
    s.expiration_ns = ev.expiration_ns;
    s.seq = ev.seq;
    s.size = ev.size;
    s.id = std::as_bytes(std::span(ev.id));
    const std::size_t n = encode_section_body(body_, s);
    queue(node, FrameType::kSection, 0, r.ckpt->epoch(), {body_.data(), n});
}

void Replicator::on_hashes(std::uint16_t node, const DecodedFrame& f) {
    HashesBody h;
    if (decode_hashes_body(f.body, h) != Reject::kNone) {
        ++counters_.bad_commits;
        return;
    }
    Repl* r = by_wire(h.checkpoint_id);
    if (!r || r->ckpt->role() != kRoleActive) {
        ++counters_.unknown_checkpoint;
        return;
    }
    if (f.header.epoch != r->ckpt->epoch()) { // a report for an earlier announce of ours
        ++counters_.stale_epoch;
        return;
    }
    auto mit = r->members.find(node);
    if (mit == r->members.end()) return;
    Member& m = mit->second;
    if (m.state == MemberState::kInSync) { // a replica that diverged asks again: resync it
        join(*r, node);
        return;
    }
    if (m.state != MemberState::kAwaitHashes) return;
    if (h.slot != kNoSlot && h.slot < r->ckpt->max_sections()) {
        Reported& rep = m.reported[h.slot];
        rep.generation = h.generation;
        rep.data_offset = h.data_offset;
        rep.capacity = h.capacity;
        rep.id_hash = h.id_hash;
        const std::uint64_t need = std::uint64_t{h.first_block} + h.count;
        if (need <= (std::uint64_t{1} << 26)) { // bounded by any real section (64M blocks)
            if (rep.hashes.size() < need) rep.hashes.resize(need, 0);
            for (std::uint32_t i = 0; i < h.count; ++i) rep.hashes[h.first_block + i] = hashes_at(h, i);
        }
    }
    if (f.header.flags & kFlagLastFragment) finish_resync(*r, node, m);
}

void Replicator::finish_resync(Repl& r, std::uint16_t node, Member& m) {
    Checkpoint& c = *r.ckpt;
    const std::uint32_t bs = c.attributes().block_size;
    std::vector<std::byte> zero(bs);
    const std::uint64_t zero_hash = XXH3_64bits(zero.data(), zero.size());
    // 1. Sections the standby holds that are not ours at the same place go first (they may
    //    occupy extents ours need).
    for (const auto& [slot, rep] : m.reported) {
        auto st = c.section_state(slot);
        const bool same = st && st->data_offset == rep.data_offset && st->capacity == rep.capacity &&
                          XXH3_64bits(st->id.data(), st->id.size()) == rep.id_hash;
        if (same) continue;
        ReplEvent del;
        del.kind = ReplEvent::Kind::kDelete;
        del.slot = slot;
        del.generation = 0; // whatever it holds
        send_section(r, node, del);
    }
    // 2. Every section of ours: install it, then send the blocks whose hash differs.
    std::uint32_t sections = 0;
    std::uint64_t blocks_sent = 0;
    for (std::uint32_t slot = 0; slot < c.max_sections(); ++slot) {
        auto st = c.section_state(slot);
        if (!st) continue;
        ++sections;
        ReplEvent ins;
        ins.kind = ReplEvent::Kind::kInstall;
        ins.slot = slot;
        ins.generation = st->generation;
        ins.seq = st->seq;
        ins.size = st->size;
        ins.id = st->id;
        ins.data_offset = st->data_offset;
        ins.capacity = st->capacity;
        ins.expiration_ns = st->expiration_ns;
        send_section(r, node, ins);
        const auto ours = c.block_hashes(slot, false);
        c.set_replicated_hashes(slot, ours);
        auto rit = m.reported.find(slot);
        const bool same = rit != m.reported.end() && rit->second.data_offset == st->data_offset &&
                          rit->second.capacity == st->capacity &&
                          XXH3_64bits(st->id.data(), st->id.size()) == rit->second.id_hash;
        ReplEvent data;
        data.kind = ReplEvent::Kind::kCommit;
        data.slot = slot;
        data.generation = st->generation;
        data.seq = st->seq;
        data.size = st->size;
        for (std::uint64_t b = 0; b < ours.size(); ++b) {
            // What the standby holds after the install: its own bytes when it is the same
            // section, zeroes when the install replaced it.
            const std::uint64_t theirs =
                same ? (b < rit->second.hashes.size() ? rit->second.hashes[b] : ~ours[b]) : zero_hash;
            if (theirs == ours[b]) {
                ++counters_.resync_blocks_same;
                continue;
            }
            ++blocks_sent;
            if (!data.runs.empty() && data.runs.back().offset + data.runs.back().length == b * bs)
                data.runs.back().length += bs;
            else
                data.runs.push_back({b * bs, bs});
        }
        send_commit(r, node, data, c.committed_bytes(slot), {});
    }
    counters_.resync_blocks += blocks_sent; // once: blocks_sent is the total over the sections
    counters_.resync_bytes += blocks_sent * bs;
    ResyncDoneBody done{r.wire_id, sections, blocks_sent};
    const std::size_t n = encode_resync_done_body(body_, done);
    const std::uint64_t token = next_resync_token_++;
    resync_tokens_[token] = {&r, node};
    queue(node, FrameType::kResyncDone, 0, c.epoch(), {body_.data(), n}, Completion{kResyncDone, token});
    m.state = MemberState::kInSync; // later commits flow as DATA behind the resync
    m.reported.clear();
    host_.replication_log("checkpoint '" + c.name() + "': " + node_str(node) + " resynced, " +
                          std::to_string(blocks_sent) + " blocks differed (" + std::to_string(sections) + " sections)");
}

void Replicator::complete(std::uint64_t commit_id, std::uint16_t node) {
    auto it = pending_.find(commit_id);
    if (it == pending_.end()) return;
    Pending& p = it->second;
    p.waiting.erase(std::remove(p.waiting.begin(), p.waiting.end(), node), p.waiting.end());
    if (!p.waiting.empty()) return;
    Repl& r = *p.repl;
    r.ckpt->set_acked(p.slot, p.generation, p.seq);
    r.lag_commits -= 1;
    r.lag_bytes -= p.bytes;
    ++counters_.commits_acked;
    ++r.figures.commits_acked;
    r.figures.ack_latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, mono_ns() - p.captured_ns)));
    pending_.erase(it);
}

void Replicator::on_completed(std::uint16_t node, Completion c) {
    if (c.kind == kCommitDone) {
        auto it = pending_.find(c.id);
        if (it == pending_.end()) return;
        Repl* r = it->second.repl;
        // Covered by a resync since it was sent (the node refused something): the resync's end,
        // not this acknowledgement, says the node holds it.
        if (auto m = r->members.find(node); m != r->members.end()) {
            const auto& barrier = m->second.barrier;
            if (std::find(barrier.begin(), barrier.end(), c.id) != barrier.end()) return;
        }
        complete(c.id, node);
        publish(*r);
    } else if (c.kind == kResyncDone) {
        auto it = resync_tokens_.find(c.id);
        if (it == resync_tokens_.end()) return;
        Repl& r = *it->second.first;
        resync_tokens_.erase(it);
        Member& m = r.members[node];
        m.synced = true;
        m.refused_rejoins = 0;
        for (std::uint64_t id : std::exchange(m.barrier, {})) complete(id, node);
        ++counters_.resyncs;
        publish(r);
    }
}

void Replicator::drop_member(Repl& r, std::uint16_t node) {
    Member& m = r.members[node];
    m.required = false;
    m.barrier.clear();
    std::vector<std::uint64_t> ids;
    for (auto& [id, p] : pending_)
        if (p.repl == &r) ids.push_back(id);
    for (std::uint64_t id : ids) complete(id, node);
}

void Replicator::on_refused(std::uint16_t node, const DecodedFrame& f) {
    RefusedBody b;
    if (decode_refused_body(f.body, b) != Reject::kNone) {
        ++counters_.bad_commits;
        return;
    }
    ++counters_.refusals_received;
    Repl* r = by_wire(b.checkpoint_id);
    if (!r || r->ckpt->role() != kRoleActive) return; // about a role this node no longer has
    auto mit = r->members.find(node);
    if (mit == r->members.end()) return;
    Member& m = mit->second;
    if (b.refused_link_seq < m.rejoin_from) return; // sent before the resync already under way
    Checkpoint& c = *r->ckpt;
    const std::string what = std::string(b.refused_type == FrameType::kData ? "commit " + std::to_string(b.commit_seq)
                                         : b.refused_type == FrameType::kSection ? "a section change"
                                                                                 : "the end of a resync");
    if (b.reason == RefuseReason::kStaleEpoch || b.reason == RefuseReason::kNotFromActive ||
        b.replica_epoch > c.epoch()) {
        // The node follows another active at this epoch or a newer one: this node was fenced.
        // Its unacknowledged commits fail (their writers see the role change), and the winner's
        // ANNOUNCE resyncs it.
        host_.replication_log("checkpoint '" + c.name() + "': " + node_str(node) + " refused " + what + " (" +
                              refuse_reason_name(b.reason) + ", its epoch " + std::to_string(b.replica_epoch) +
                              ", ours " + std::to_string(c.epoch()) +
                              "): another node is active, stepping down to standby");
        ++counters_.fenced;
        become_standby(*r, c.epoch(), 0, 0);
        return;
    }
    // The replica lost or could not take our state: resync it. Pending commits it has not
    // applied wait for that resync (join() puts them behind its barrier). One that refuses
    // resync after resync is broken: it counts as down (sync commits fail naming it) until it
    // reconnects, rather than resyncing in a loop.
    if (++m.refused_rejoins > kMaxRefusedRejoins) {
        host_.replication_log("checkpoint '" + c.name() + "': " + node_str(node) + " refused " + what + " (" +
                              refuse_reason_name(b.reason) + ") after " + std::to_string(kMaxRefusedRejoins) +
                              " resyncs: treated as down until it reconnects");
        m.state = MemberState::kDown;
        m.down_since_ns = now_ns_;
        m.barrier.clear();
        publish(*r);
        return;
    }
    host_.replication_log("checkpoint '" + c.name() + "': " + node_str(node) + " refused " + what + " (" +
                          refuse_reason_name(b.reason) + "): resyncing it");
    join(*r, node);
    publish(*r);
}

void Replicator::publish(Repl& r) {
    std::uint32_t in_sync = 0, blocked = 0;
    for (const auto& [node, m] : r.members) {
        if (!m.required) continue;
        if (m.state == MemberState::kInSync && m.barrier.empty()) ++in_sync;
        if (m.state == MemberState::kDown && blocked == 0) blocked = node;
    }
    r.ckpt->publish_lag(r.lag_commits, r.lag_bytes, in_sync, blocked);
    r.ckpt->publish_acks();
}

void Replicator::tick(std::int64_t now_ns) {
    now_ns_ = now_ns;
    const std::int64_t limit = std::int64_t{link_.config().member_timeout_ms} * 1'000'000;
    for (auto& rp : repls_) {
        Repl& r = *rp;
        if (r.ckpt->role() != kRoleActive) continue;
        if (limit > 0) {
            for (auto& [node, m] : r.members) {
                if (!m.required || m.state != MemberState::kDown || now_ns - m.down_since_ns < limit) continue;
                host_.replication_log("checkpoint '" + r.ckpt->name() + "': " + node_str(node) + " down for " +
                                      std::to_string(link_.config().member_timeout_ms) +
                                      " ms: no longer required for acknowledgements until it rejoins");
                drop_member(r, node);
            }
        }
        publish(r);
    }
}

std::vector<Replicator::MemberView> Replicator::members_of(const Checkpoint& c) const {
    std::vector<MemberView> v;
    for (const auto& r : repls_) {
        if (r->ckpt.get() != &c) continue;
        for (const auto& [node, m] : r->members) {
            if (!m.required) continue;
            std::uint64_t n = 0;
            for (const auto& [id, p] : pending_)
                if (p.repl == r.get() && std::find(p.waiting.begin(), p.waiting.end(), node) != p.waiting.end()) ++n;
            v.push_back({node,
                         m.state == MemberState::kInSync        ? (m.barrier.empty() ? "in-sync" : "resync")
                         : m.state == MemberState::kAwaitHashes ? "resync"
                                                                : "down",
                         n});
        }
    }
    return v;
}

void Replicator::on_peer_up(std::uint16_t node) {
    now_ns_ = mono_ns();
    for (auto& r : repls_) {
        if (r->ckpt->role() != kRoleActive) continue;
        join(*r, node); // a new or returning standby: announce, then resync by block hashes
        publish(*r);
    }
}

void Replicator::on_peer_down(std::uint16_t node, const std::vector<Completion>& abandoned) {
    now_ns_ = mono_ns();
    for (const Completion& c : abandoned)
        if (c.kind == kResyncDone) resync_tokens_.erase(c.id);
    for (auto& rp : repls_) {
        Repl& r = *rp;
        if (r.ckpt->role() == kRoleActive) {
            auto it = r.members.find(node);
            if (it == r.members.end()) continue;
            Member& m = it->second;
            if (m.state != MemberState::kDown) m.down_since_ns = now_ns_;
            m.state = MemberState::kDown;
            m.reported.clear();
            m.barrier.clear(); // the pending commits still name it: the next join covers them
            // One that never held this active's state (it vanished during its first resync, as a
            // dead former active does right after a promotion) cannot lose acknowledged commits:
            // nothing waits for it. One that did stays required until it returns or times out.
            if (!m.synced) drop_member(r, node);
            publish(r);
        }
        // Standby: a commit cut in half stays staged (never applied). Discarding it here would
        // lose it when only this side declared the active down (one-way loss): the active then
        // keeps its stream, the rest of the commit arrives in order, is refused for lack of its
        // first fragments, and is ACKed all the same, so the active counted as replicated a
        // commit this node never applied (a sync commit returned OK). The stream decides
        // instead: a continued stream completes the commit; a restarted one (the active declared
        // us down too, or restarted) begins with an ANNOUNCE, and become_standby discards it.
    }
}

// ------------------------------------------------------------------------------------------
// Standby side
// ------------------------------------------------------------------------------------------

void Replicator::on_frame(std::uint16_t node, const DecodedFrame& f) {
    switch (f.header.type) {
    case FrameType::kAnnounce:
        return on_announce(node, f);
    case FrameType::kHashes:
        return on_hashes(node, f);
    case FrameType::kRefused:
        return on_refused(node, f);
    case FrameType::kData:
    case FrameType::kSection:
    case FrameType::kResyncDone: {
        if (f.body.size() < 4) {
            ++counters_.bad_commits;
            return refuse(node, f, RefuseReason::kBadCommit, 0);
        }
        const std::uint32_t wire = wire_id_of(f);
        Repl* r = by_remote(node, wire);
        if (!r) {
            // Never announced, or from a node that is no longer our active: a former active
            // still sending at an older epoch is the case fencing exists for.
            Repl* former = nullptr;
            for (auto& x : repls_)
                if (x->active_node == node && x->remote_wire_id == wire) former = x.get();
            if (!former) {
                ++counters_.unknown_checkpoint;
                return refuse(node, f, RefuseReason::kUnknownCheckpoint, 0);
            }
            if (f.header.epoch < former->ckpt->epoch()) {
                ++counters_.stale_epoch;
                return refuse(node, f, RefuseReason::kStaleEpoch, former->ckpt->epoch());
            }
            ++counters_.not_from_active;
            return refuse(node, f, RefuseReason::kNotFromActive, former->ckpt->epoch());
        }
        if (f.header.epoch < r->ckpt->epoch()) {
            ++counters_.stale_epoch;
            return refuse(node, f, RefuseReason::kStaleEpoch, r->ckpt->epoch());
        }
        if (node != r->active_node) {
            ++counters_.not_from_active;
            return refuse(node, f, RefuseReason::kNotFromActive, r->ckpt->epoch());
        }
        bool ok = true;
        if (f.header.type == FrameType::kData)
            ok = on_data(*r, f);
        else if (f.header.type == FrameType::kSection)
            ok = on_section(*r, f);
        // RESYNC_DONE: everything before it was applied in order (or refused, and said so).
        if (!ok) refuse(node, f, RefuseReason::kBadCommit, r->ckpt->epoch());
        return;
    }
    default:
        return;
    }
}

void Replicator::refuse(std::uint16_t node, const DecodedFrame& f, RefuseReason why, std::uint64_t epoch) {
    // Only what an acknowledgement would make the active believe: a commit's last fragment (its
    // completion), a section change, the end of a resync. An earlier fragment of a commit is
    // refused with its last one (fragments after a refused one never apply).
    if (f.header.type == FrameType::kData && !(f.header.flags & kFlagLastFragment)) return;
    RefusedBody b;
    if (f.body.size() >= 4) b.checkpoint_id = wire_id_of(f);
    b.reason = why;
    b.refused_type = f.header.type;
    b.refused_link_seq = f.header.link_seq;
    if (f.header.type == FrameType::kData) {
        DataBody d;
        std::span<const std::byte> payload;
        if (decode_data_body(f.body, d, payload) == Reject::kNone) b.commit_seq = d.commit_seq;
    }
    b.replica_epoch = epoch;
    std::byte body[kRefusedBody];
    const std::size_t n = encode_refused_body(body, b);
    // Queued before the ACK that covers the refused frame (which names it in sent_through).
    if (queue(node, FrameType::kRefused, 0, epoch, {body, n})) ++counters_.refusals_sent;
}

void Replicator::on_announce(std::uint16_t node, const DecodedFrame& f) {
    AnnounceBody a;
    if (decode_announce_body(f.body, a) != Reject::kNone || validate_name(a.name).ok() == false) {
        ++counters_.bad_commits;
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
        ++counters_.bad_commits;
        host_.replication_log(node_str(node) + " announced checkpoint '" + std::string(a.name) +
                              "' with invalid attributes: ignored");
        return;
    }
    const std::string name(a.name);
    auto c = host_.find_checkpoint(name);
    if (c && !(c->attributes() == attrs)) {
        ++counters_.bad_commits;
        host_.replication_log(node_str(node) + " announced checkpoint '" + name +
                              "' with other creation attributes than this node's: not replicated "
                              "(delete one of them)");
        return;
    }
    if (c) {
        const std::uint64_t mine = c->epoch();
        if (c->role() == kRoleActive) {
            // Two actives: the higher epoch wins; on a tie, the lower node id (deterministic on
            // both sides). The loser becomes a standby and is resynced from the winner.
            if (epoch < mine || (epoch == mine && node > link_.node_id())) {
                ++counters_.stale_epoch;
                return refuse(node, f, RefuseReason::kStaleEpoch, mine); // the sender steps down
            }
            host_.replication_log("checkpoint '" + name + "': " + node_str(node) + " is active at epoch " +
                                  std::to_string(epoch) + " (this node had " + std::to_string(mine) +
                                  "): stepping down to standby");
        } else if (epoch < mine) {
            ++counters_.stale_epoch;
            return refuse(node, f, RefuseReason::kStaleEpoch, mine); // it was fenced: tell it
        }
    } else {
        auto created = host_.create_replica(name, attrs);
        if (!created) {
            host_.replication_log("cannot create replica of '" + name + "' announced by " + node_str(node) + ": " +
                                  created.message());
            return;
        }
        c = *created;
    }
    Repl& r = repl_of(c);
    become_standby(r, epoch, node, a.checkpoint_id);
    send_hashes(r);
}

void Replicator::send_hashes(Repl& r) {
    Checkpoint& c = *r.ckpt;
    const std::size_t per_frame = (link_.max_data_payload() + kDataBodyFixed - kHashesBodyFixed) / 8;
    std::vector<std::uint32_t> used;
    for (std::uint32_t s = 0; s < c.max_sections(); ++s)
        if (c.section_state(s)) used.push_back(s);
    HashesBody h;
    h.checkpoint_id = r.remote_wire_id;
    if (used.empty()) {
        h.slot = kNoSlot;
        const std::size_t n = encode_hashes_body(body_, h, {});
        queue(r.active_node, FrameType::kHashes, kFlagLastFragment, c.epoch(), {body_.data(), n});
        return;
    }
    for (std::size_t u = 0; u < used.size(); ++u) {
        const std::uint32_t slot = used[u];
        auto st = c.section_state(slot);
        const auto hashes = c.block_hashes(slot, true);
        h.slot = slot;
        h.generation = st->generation;
        h.data_offset = st->data_offset;
        h.capacity = st->capacity;
        h.id_hash = XXH3_64bits(st->id.data(), st->id.size());
        for (std::size_t first = 0; first < hashes.size(); first += per_frame) {
            const std::size_t cnt = std::min(per_frame, hashes.size() - first);
            h.first_block = static_cast<std::uint32_t>(first);
            const std::size_t n = encode_hashes_body(body_, h, std::span(hashes).subspan(first, cnt));
            const bool last = u + 1 == used.size() && first + cnt == hashes.size();
            queue(r.active_node, FrameType::kHashes, last ? kFlagLastFragment : 0, c.epoch(), {body_.data(), n});
        }
    }
}

bool Replicator::on_section(Repl& r, const DecodedFrame& f) {
    SectionBody s;
    if (decode_section_body(f.body, s) != Reject::kNone) {
        ++counters_.bad_commits;
        return false;
    }
    bool ok = true;
    Checkpoint& c = *r.ckpt;
    switch (s.op) {
    case SectionOp::kInstall:
        if (auto st = c.install_section(s.slot, s.id, s.generation, s.data_offset, s.capacity, s.expiration_ns, s.seq,
                                        s.size);
            !st) {
            ++counters_.bad_commits;
            host_.replication_log("checkpoint '" + c.name() + "': " + st.message());
            ok = false;
        }
        break;
    case SectionOp::kDelete:
        c.remove_section_at(s.slot, s.generation);
        break;
    case SectionOp::kExpiration:
        c.set_expiration_at(s.slot, s.generation, s.expiration_ns);
        break;
    case SectionOp::kUnlinkCheckpoint: {
        auto keep = r.ckpt;
        host_.replication_log("checkpoint '" + c.name() + "' was deleted on its active " + node_str(r.active_node));
        forget(keep);
        host_.unlink_replica(keep);
        return true;
    }
    }
    c.publish_acks();
    return ok;
}

bool Replicator::on_data(Repl& r, const DecodedFrame& f) {
    DataBody d;
    std::span<const std::byte> payload;
    Checkpoint& c = *r.ckpt;
    if (decode_data_body(f.body, d, payload) != Reject::kNone) {
        ++counters_.bad_commits; // the frame hash passed, so this is a sender bug: never applied
        return false;
    }
    if (d.fragment == 0) {
        if (r.rx_open) { // the previous commit never completed: it is void
            c.discard_staged();
            ++counters_.bad_commits;
        }
        r.rx_open = true;
        r.rx_slot = d.slot;
        r.rx_generation = d.generation;
        r.rx_seq = d.commit_seq;
        r.rx_next = 0;
    }
    if (!r.rx_open || d.slot != r.rx_slot || d.generation != r.rx_generation || d.commit_seq != r.rx_seq ||
        d.fragment != r.rx_next || !c.stage(d.slot, d.generation, d.offset, payload)) {
        if (r.rx_open) c.discard_staged();
        r.rx_open = false;
        ++counters_.bad_commits;
        return false;
    }
    ++r.rx_next;
    if (!(f.header.flags & kFlagLastFragment)) return true;
    r.rx_open = false;
    const bool applied =
        c.apply_staged(d.slot, d.generation, d.commit_seq, d.section_size, (f.header.flags & kFlagOverwrite) != 0);
    if (applied) {
        ++counters_.commits_applied;
        ++r.figures.commits_applied;
    } else {
        ++counters_.bad_commits;
    }
    c.publish_acks(); // hot-standby subscribers wake with the change
    return applied;
}

} // namespace ckpt::engine
