#include "replication/active_side.hpp"

#include "crash/crash_points.hpp"

#include "replication/replica.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>

namespace ckpt::engine {

using namespace ckpt::net;

void ActiveSide::start(Replica& r) {
    // The replica set: standbys reachable now (as many as `replicas` wants). One that is down
    // joins when it comes back (and resyncs); until then nothing waits for it.
    for (auto& [node, m] : r.active.members) m = Member{};
    fill_replica_set(r, true);
    publish(r);
}

void ActiveSide::fill_replica_set(Replica& r, bool at_start) {
    const std::uint32_t replicas = out_.link().config().replicas;
    const std::size_t wanted = replicas == 0 ? r.active.members.size() : replicas - 1;
    std::size_t chosen = 0;
    for (const auto& [node, m] : r.active.members) chosen += m.chosen;
    for (auto& [node, m] : r.active.members) { // std::map: lowest node id first
        if (chosen >= wanted) break;
        if (m.chosen || !out_.link().is_up(node)) continue;
        if (replicas != 0)
            host_.replication_log("checkpoint '" + printable_name(r.ckpt->name()) + "': " + node_str(node) +
                                  " joins the replica set (" + std::to_string(chosen + 1) + " of " +
                                  std::to_string(wanted) + " standbys)");
        // A new or promoted active requires the standbys it starts with, except the active this
        // node followed until now: it is being failed over from (dead, or stepping down) and
        // holds no commit of this active; it is waited for once it resynced, as any new standby.
        join(r, node, at_start && node != r.active_node);
        ++chosen;
    }
}

void ActiveSide::start_after_restart(Replica& r, const std::vector<std::pair<std::uint32_t, SectionState>>& held) {
    now_ns_ = clock_();
    std::vector<std::uint16_t> waiting;
    for (auto& [node, m] : r.active.members) {
        if (m.state != Member::State::kDown) continue; // up already: joined by start()
        m.chosen = true;
        m.required = true;
        m.synced = true; // it may hold acknowledged commits of this active: it must come back first
        m.down_since_ns = now_ns_;
        // Not silent yet, only not heard since the restart: as for any peer, silence is
        // peer_timeout_ms without a frame (a cluster manager demoting this node at start must not
        // find the standby fenced meanwhile).
        m.fence_not_before_ns = now_ns_ + std::int64_t{out_.link().config().peer_timeout_ms} * 1'000'000;
        waiting.push_back(node);
    }
    for (const auto& [slot, st] : held) {
        Pending p{&r, slot, st.generation, st.seq, 0, r.ckpt->meta().commit_seq(), waiting};
        p.captured_ns = now_ns_;
        for (auto& [node, m] : r.active.members)
            if (m.state != Member::State::kDown) {
                p.waiting.push_back(node);
                m.barrier.push_back(next_commit_id_); // start() joined it: its resync covers the commit
            }
        if (p.waiting.empty()) continue;
        r.active.lag_commits += 1;
        pending_.emplace(next_commit_id_++, std::move(p));
    }
    if (!waiting.empty())
        host_.replication_log("checkpoint '" + printable_name(r.ckpt->name()) +
                              "': adopted as active after a restart; " + std::to_string(held.size()) +
                              " section(s) with commits no standby is known to hold; sync commits wait for "
                              "every standby to rejoin and resync");
    publish(r);
}

void ActiveSide::give_up_pending(Replica& r) {
    Checkpoint& c = *r.ckpt;
    std::uint32_t n = 0;
    std::uint64_t first = 0, last = 0;
    std::vector<std::uint32_t> slots;
    for (const auto& [id, p] : pending_) {
        if (p.repl != &r || p.directory) continue;
        if (n++ == 0) first = p.change;
        first = std::min(first, p.change);
        last = std::max(last, p.change);
        if (std::find(slots.begin(), slots.end(), p.slot) == slots.end()) slots.push_back(p.slot);
        for (const Pending::Other& o : p.group)
            if (std::find(slots.begin(), slots.end(), o.slot) == slots.end()) slots.push_back(o.slot);
        n += static_cast<std::uint32_t>(p.group.size());
    }
    if (n == 0) return;
    std::string ids;
    for (std::uint32_t s : slots) {
        const auto st = c.section_state(s);
        std::string id;
        if (!st)
            id = "slot " + std::to_string(s);
        else if (st->id.empty())
            id = "(default)";
        else
            for (char ch : st->id) { // section ids are bytes: escape what is not printable
                char b[5];
                std::snprintf(b, sizeof b, "\\x%02x", static_cast<unsigned char>(ch));
                id += (ch >= 0x20 && ch < 0x7f) ? std::string(1, ch) : std::string(b);
            }
        ids += (ids.empty() ? "" : ", ") + id;
    }
    host_.replication_log("checkpoint '" + printable_name(c.name()) + "': stepping down with " + std::to_string(n) +
                          " commit(s) no standby acknowledged: LOST on this node (changes " + std::to_string(first) +
                          ".." + std::to_string(last) + " of its change sequence; sections " + ids +
                          "); the new active's state replaces them");
    c.record_lost(n, first, last);
    totals_.commits_lost += n;
    r.ckpt->counters().commits_lost += n;
}

void ActiveSide::forget_pending(const Replica& r) {
    for (auto it = pending_.begin(); it != pending_.end();)
        it = it->second.repl == &r ? pending_.erase(it) : std::next(it);
    for (auto it = resync_tokens_.begin(); it != resync_tokens_.end();)
        it = it->second.first == &r ? resync_tokens_.erase(it) : std::next(it);
}

void ActiveSide::stop(Replica& r) {
    forget_pending(r);
    for (auto& [node, m] : r.active.members) m = Member{};
    r.active.lag_commits = r.active.lag_bytes = 0;
}

void ActiveSide::unlink(Replica& r) {
    SectionBody s;
    s.checkpoint_id = r.wire_id;
    s.op = SectionOp::kUnlinkCheckpoint;
    s.slot = kNoSlot;
    const std::size_t n = encode_section_body(out_.body(), s);
    for (auto& [node, m] : r.active.members)
        if (m.state != Member::State::kDown)
            out_.queue(node, FrameType::kSection, 0, r.ckpt->epoch(), out_.body().first(n));
    forget_pending(r);
}

std::uint64_t ActiveSide::first_join_id() {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) | rd();
}

void ActiveSide::join(Replica& r, std::uint16_t node, bool required) {
    Member& m = r.active.members[node];
    m.state = Member::State::kAwaitHashes;
    m.chosen = true;
    // One that may hold commits this active acknowledged stays required through its resync; a
    // new one is waited for only once it is in sync (resync_step), and cannot be promoted before.
    m.required = required || m.synced;
    m.done_pending = false;
    m.reported.clear();
    m.reported_blocks = 0;
    if (++next_join_ == 0) ++next_join_;
    m.join = next_join_;
    // Frames queued before this point belong to the replica's previous state: a refusal of one
    // of them is expected now, and an acknowledgement of a resync it ends means nothing.
    m.rejoin_from = out_.link().next_link_seq(node);
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

void ActiveSide::announce(Replica& r, std::uint16_t node) {
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
    b.join = r.active.members[node].join;
    b.name = c.name();
    const std::size_t n = encode_announce_body(out_.body(), b);
    out_.queue(node, FrameType::kAnnounce, 0, c.epoch(), out_.body().first(n));
}

void ActiveSide::on_event(Replica& r, ReplEvent&& ev) {
    if (ev.kind == ReplEvent::Kind::kGroup) return on_group(r, std::move(ev));
    Checkpoint& c = *r.ckpt;
    // A member being resynced gets the changes of sections the resync already sent; the later
    // ones are read by the resync when it reaches them (it sends the committed state then).
    auto passed = [&](const Member& m) {
        return m.state == Member::State::kInSync || (m.state == Member::State::kResyncing && ev.slot < m.resync_slot);
    };
    if (ev.kind != ReplEvent::Kind::kCommit) {
        // Tracked as commits are (without a section sequence or lag), so that saCkptCheckpointSynchronize
        // can wait until every required standby applied the directory changes made before it.
        const std::uint64_t id = next_commit_id_++;
        Pending p{&r, ev.slot, ev.generation, 0, 0, c.meta().commit_seq(), {}};
        p.directory = true;
        for (auto& [node, m] : r.active.members) {
            if (passed(m)) send_section(r, node, ev, m.required ? Completion{kCommitDone, id} : Completion{});
            if (!m.required) continue;
            p.waiting.push_back(node);
            if (m.state == Member::State::kAwaitHashes || (m.state == Member::State::kResyncing && !passed(m)))
                m.barrier.push_back(id); // the resync covers it
        }
        if (!p.waiting.empty()) pending_.emplace(id, std::move(p));
        return;
    }
    crash::hit(crash::Point::kCaptureBeforeSend); // captured into the shadow, nothing queued
    std::uint64_t bytes = 0;
    for (const auto& run : ev.runs) bytes += run.length;
    const std::uint64_t id = next_commit_id_++;
    Pending p{&r, ev.slot, ev.generation, ev.seq, bytes, c.meta().commit_seq() + 1, {}}; // recorded after us
    const std::span<const std::byte> section = c.committed_bytes(ev.slot);
    for (auto& [node, m] : r.active.members) {
        if (!m.required) {
            // A new standby being resynced: it gets the commits of sections its resync already
            // sent, and nothing waits for it until it is in sync.
            if (m.chosen && passed(m)) send_commit(r, node, ev, section, Completion{}, false, true);
            continue;
        }
        p.waiting.push_back(node);
        if (passed(m)) {
            send_commit(r, node, ev, section, Completion{kCommitDone, id}, false, true);
            ++totals_.commits_sent;
            ++r.ckpt->counters().commits_sent;
            crash::hit_after_flush(crash::Point::kSendBeforeAck); // dies once the link sent them
        } else if (m.state == Member::State::kAwaitHashes || m.state == Member::State::kResyncing) {
            m.barrier.push_back(id); // the resync diff will include it
        } // down: it resyncs when it comes back, or stops being required after member_timeout_ms
    }
    if (p.waiting.empty()) {
        c.set_acked(ev.slot, ev.generation, ev.seq); // no standby is required
        return;
    }
    r.active.lag_commits += 1;
    r.active.lag_bytes += bytes;
    p.captured_ns = clock_(); // ack latency and lag age (stats region); only for commits that wait
    pending_.emplace(id, std::move(p));
    publish(r);
}

void ActiveSide::on_group(Replica& r, ReplEvent&& ev) {
    Checkpoint& c = *r.ckpt;
    const auto& members = ev.members;
    crash::hit(crash::Point::kCaptureBeforeSend);
    std::uint64_t bytes = 0;
    for (const ReplEvent& m : members)
        for (const auto& run : m.runs) bytes += run.length;
    const std::uint64_t id = next_commit_id_++;
    const ReplEvent& first = members.front();
    Pending p{&r, first.slot, first.generation, first.seq, bytes, c.meta().commit_seq(), {}};
    for (std::size_t i = 1; i < members.size(); ++i)
        p.group.push_back({members[i].slot, members[i].generation, members[i].seq});
    // A standby in sync gets the members back to back, every one's last frame but the last
    // member's flagged "more of the group follows": it stages them all and applies them at once.
    // One being resynced gets those of sections its resync passed one by one, and the rest with
    // the resync (it is not in sync, so not promotable, until that ends: atomicity is the resync's).
    auto send = [&](std::uint16_t node, const Member& m, Completion done) {
        const bool whole =
            m.state == Member::State::kInSync ||
            std::all_of(members.begin(), members.end(), [&](const ReplEvent& e) { return e.slot < m.resync_slot; });
        for (std::size_t i = 0; i < members.size(); ++i) {
            const ReplEvent& e = members[i];
            if (!whole && e.slot >= m.resync_slot) continue;
            const bool last = i + 1 == members.size();
            send_commit(r, node, e, c.committed_bytes(e.slot), whole && last ? done : Completion{}, whole && !last);
        }
        return whole;
    };
    auto passed_any = [&](const Member& m) {
        return m.state == Member::State::kInSync ||
               (m.state == Member::State::kResyncing &&
                std::any_of(members.begin(), members.end(),
                            [&](const ReplEvent& e) { return e.slot < m.resync_slot; }));
    };
    for (auto& [node, m] : r.active.members) {
        if (!m.required) {
            if (m.chosen && passed_any(m)) (void)send(node, m, Completion{});
            continue;
        }
        p.waiting.push_back(node);
        const bool syncing = m.state == Member::State::kAwaitHashes || m.state == Member::State::kResyncing;
        if (passed_any(m)) {
            const bool whole = send(node, m, Completion{kCommitDone, id});
            totals_.commits_sent += members.size();
            r.ckpt->counters().commits_sent += members.size();
            if (!whole) m.barrier.push_back(id); // the rest comes with the resync
            crash::hit_after_flush(crash::Point::kSendBeforeAck);
        } else if (syncing) {
            m.barrier.push_back(id);
        }
    }
    if (p.waiting.empty()) {
        for (const ReplEvent& e : members) c.set_acked(e.slot, e.generation, e.seq);
        return;
    }
    r.active.lag_commits += 1;
    r.active.lag_bytes += bytes;
    p.captured_ns = clock_();
    pending_.emplace(id, std::move(p));
    publish(r);
}

namespace {

/// Plans a commit's DATA frames one at a time, in order, into a caller's table (no allocation):
/// a long run fills frames of one run each; short runs (scattered blocks, a resync's differences)
/// share a frame, listed in its run table (kFlagRuns, docs/PROTOCOL.md), so an isolated block
/// costs 12 bytes of table, not a frame's 154 bytes of headers and fixed part.
class FramePlanner {
public:
    FramePlanner(std::span<const ReplEvent::Run> runs, std::size_t body_cap, std::size_t max_payload)
        : runs_(runs), body_cap_(body_cap), max_payload_(max_payload) {}

    /// The next frame's runs into `out` (cleared first); false when every byte was planned.
    bool next(std::vector<DataRun>& out) {
        out.clear();
        std::size_t bytes = 0;
        for (;;) {
            if (left_ == 0) {
                if (i_ == runs_.size()) break;
                off_ = runs_[i_].offset;
                left_ = runs_[i_].length;
                ++i_;
                if (left_ == 0) continue;
                // Runs ascend within a frame: one that does not starts the next frame.
                if (!out.empty() && off_ < out.back().offset + out.back().length) break;
            }
            if (out.empty() && left_ >= max_payload_) { // a whole frame of this run
                out.push_back(DataRun{off_, static_cast<std::uint32_t>(max_payload_)});
                off_ += max_payload_;
                left_ -= max_payload_;
                break;
            }
            const std::size_t runs_after = out.size() + 1;
            const std::size_t fixed =
                kDataBodyFixed + (runs_after > 1 ? kDataRunCount + kDataRunEntry * runs_after : 0);
            const std::size_t avail =
                runs_after > kMaxDataRuns || body_cap_ <= fixed + bytes ? 0 : body_cap_ - fixed - bytes;
            // No room worth a table entry: the frame is full (an empty frame always takes the run:
            // it fits, it is shorter than a frame's payload).
            if (!out.empty() && (avail == 0 || (avail < left_ && avail < 64))) break;
            const std::uint32_t take = static_cast<std::uint32_t>(std::min<std::uint64_t>(left_, avail));
            out.push_back(DataRun{off_, take});
            bytes += take;
            off_ += take;
            left_ -= take;
        }
        return !out.empty();
    }

private:
    std::span<const ReplEvent::Run> runs_;
    std::size_t body_cap_, max_payload_;
    std::size_t i_ = 0;
    std::uint64_t off_ = 0, left_ = 0;
};

/// The DATA body of one frame of `runs` (one run, none, or a run table) at out; its flags gain
/// kFlagRuns for a table. Returns bytes written.
std::size_t encode_frame_body(std::span<std::byte> out, DataBody& d, std::span<const DataRun> runs,
                              std::span<const std::byte> section, std::uint16_t& flags) {
    if (runs.size() > 1) {
        flags |= kFlagRuns;
        return encode_data_runs_body(out, d, runs, section);
    }
    const DataRun one = runs.empty() ? DataRun{} : runs[0];
    d.offset = one.offset;
    d.length = one.length;
    return encode_data_body(out, d, section.subspan(one.offset, one.length));
}

std::size_t planned_body(std::span<const DataRun> runs, std::uint64_t& payload_bytes) {
    payload_bytes = 0;
    for (const DataRun& run : runs) payload_bytes += run.length;
    return kDataBodyFixed + (runs.size() > 1 ? kDataRunCount + kDataRunEntry * runs.size() : 0) + payload_bytes;
}

} // namespace

void ActiveSide::send_commit(Replica& r, std::uint16_t node, const ReplEvent& ev, std::span<const std::byte> section,
                             Completion last, bool group_more, bool coalesce) {
    const std::uint64_t epoch = r.ckpt->epoch();
    const std::size_t body_cap = out_.link().max_frame_body();
    const std::size_t max_payload = out_.link().max_data_payload(); // a frame of one run
    Member& m = r.active.members[node];
    DataBody d;
    d.checkpoint_id = r.wire_id;
    d.slot = ev.slot;
    d.generation = ev.generation;
    d.commit_seq = ev.seq;
    d.section_size = ev.size;
    const std::uint16_t base_flags = ev.overwrite ? kFlagOverwrite : 0;
    // Planned one frame ahead, so that the last one is known when it is encoded (its flags and
    // completion); a commit that changed no byte (a rollback's new sequence) is one empty frame.
    FramePlanner plan(ev.runs, body_cap, max_payload);
    plan.next(plan_cur_);
    for (std::uint32_t i = 0;; ++i) {
        const bool is_last = !plan.next(plan_next_);
        const std::span<const DataRun> runs = plan_cur_;
        d.fragment = i;
        std::uint16_t flags = static_cast<std::uint16_t>(
            base_flags | (is_last ? kFlagLastFragment | (group_more ? kFlagGroupMore : 0) : 0));
        std::uint64_t payload_bytes = 0;
        const std::size_t want = planned_body(runs, payload_bytes);
        CKPT_ENFORCE(want <= body_cap, "DATA frame does not fit the frame body");
        const bool one_frame = is_last && i == 0 && coalesce && !group_more;
        if (one_frame) {
            std::uint16_t own = flags | (runs.size() > 1 ? kFlagRuns : 0);
            if (append_to_batch(r, node, m, d, runs, section, own, want, payload_bytes, last)) return;
        }
        // The body is built straight into the frame the link keeps: the payload's one copy on
        // the way out of the committed copy before the carrier's (into the mbuf or the socket).
        // A one-frame commit that leaves room for another gets a buffer that can grow to a whole
        // frame: later commits to this node may join it until it is transmitted.
        const bool batchable = one_frame && want + kBatchHeader + 2 * kBatchEntryHeader + kDataBodyFixed <= body_cap;
        net::FrameBuf frame = out_.frame_buffer(want, batchable ? body_cap : 0);
        const std::size_t n = encode_frame_body(Outbox::frame_body(frame), d, runs, section, flags);
        CKPT_ENFORCE(n == want, "DATA body encoded to another length than planned");
        const std::uint64_t link_seq = out_.link().next_link_seq(node);
        const bool queued =
            out_.queue_frame(node, FrameType::kData, flags, epoch, std::move(frame), is_last ? last : Completion{});
        if (batchable && queued)
            m.batch = Member::OpenBatch{link_seq, epoch, last.id, last.id, n, 1, flags, last.kind != 0};
        ++totals_.data_frames;
        totals_.data_bytes += payload_bytes;
        ++r.ckpt->counters().data_frames;
        r.ckpt->counters().data_bytes += payload_bytes;
        r.ckpt->counters().wire_bytes += kFrameOverhead + n;
        if (is_last) return;
        std::swap(plan_cur_, plan_next_);
    }
}

bool ActiveSide::append_to_batch(Replica& r, std::uint16_t node, Member& m, DataBody& d, std::span<const DataRun> runs,
                                 std::span<const std::byte> section, std::uint16_t flags, std::size_t body_len,
                                 std::uint64_t payload_bytes, Completion last) {
    Member::OpenBatch& b = m.batch;
    // Only what the node waits for the same way (all acknowledged, or none: a standby not
    // required yet), of this checkpoint at this epoch (the header carries one epoch).
    if (b.link_seq == 0 || b.epoch != r.ckpt->epoch() || b.completes != (last.kind != 0)) return false;
    if (b.completes && (last.kind != kCommitDone || last.id - b.first_id > UINT32_MAX)) return false;
    net::FrameBuf* f = out_.link().untransmitted_tail(node, b.link_seq);
    if (!f) { // transmitted, or something else was queued behind it: closed for good
        b = {};
        return false;
    }
    const std::size_t grow = kBatchEntryHeader + body_len + (b.entries == 1 ? kBatchHeader + kBatchEntryHeader : 0);
    const std::size_t body_cap = out_.link().max_frame_body();
    if (b.entries >= kMaxBatchEntries || b.body_len + grow > body_cap || !f->resize(kFrameOverhead + b.body_len + grow))
        return false;
    std::byte* body = f->data() + kFrameBodyOffset;
    if (b.entries == 1) { // a plain DATA frame becomes a batch: its body becomes the first entry
        std::memmove(body + kBatchHeader + kBatchEntryHeader, body, b.body_len);
        put_batch_entry_header(body + kBatchHeader, b.first_flags, static_cast<std::uint32_t>(b.body_len));
        b.body_len += kBatchHeader + kBatchEntryHeader;
    }
    put_batch_header(body, r.wire_id, static_cast<std::uint16_t>(b.entries + 1));
    put_batch_entry_header(body + b.body_len, flags, static_cast<std::uint32_t>(body_len));
    std::uint16_t own = 0;
    const std::size_t n = encode_frame_body({body + b.body_len + kBatchEntryHeader, body_len}, d, runs, section, own);
    CKPT_ENFORCE(n == body_len, "DATA body encoded to another length than planned");
    b.body_len += kBatchEntryHeader + body_len;
    ++b.entries;
    if (b.completes) b.last_id = last.id;
    const Completion c = b.completes
                             ? Completion{kCommitsDone, b.first_id, static_cast<std::uint32_t>(b.last_id - b.first_id)}
                             : Completion{};
    CKPT_ENFORCE(
        out_.link().rewrite_tail(node, b.link_seq, FrameType::kData, kFlagBatch | kFlagLastFragment, b.epoch, c),
        "coalesced DATA frame could not be rewritten");
    totals_.wire_bytes += grow;
    ++coalesced_;
    totals_.data_bytes += payload_bytes;
    r.ckpt->counters().data_bytes += payload_bytes;
    r.ckpt->counters().wire_bytes += grow;
    return true;
}

void ActiveSide::send_section(Replica& r, std::uint16_t node, const ReplEvent& ev, Completion done) {
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
    const std::size_t n = encode_section_body(out_.body(), s);
    out_.queue(node, FrameType::kSection, 0, r.ckpt->epoch(), out_.body().first(n), done);
}

std::uint64_t ActiveSide::oldest_unapplied_directory_change(const Replica& r) const {
    std::uint64_t oldest = 0;
    for (const auto& [id, p] : pending_)
        if (p.repl == &r && p.directory && (oldest == 0 || p.change < oldest)) oldest = p.change;
    return oldest;
}

void ActiveSide::on_hashes(Replica& r, std::uint16_t node, const DecodedFrame& f, const HashesBody& h) {
    auto mit = r.active.members.find(node);
    if (mit == r.active.members.end()) return;
    Member& m = mit->second;
    if (!m.chosen) return; // not in the replica set: it gets nothing, and resyncs nothing
    // A standby reports only in answer to an ANNOUNCE, one report each. Outside kAwaitHashes a
    // report answers an ANNOUNCE that a later join superseded (links that flapped while a large
    // report was in flight): the resync under way already started from a report. Joining again
    // here announced again, whose report restarted the resync again, and so on forever.
    // And within it only the report that answers this join's ANNOUNCE (its id echoed): frames of a
    // report answering an earlier ANNOUNCE, still in flight when this join began, describe the
    // replica before what was applied since; taken for this join's report, a block changed and
    // changed back meanwhile (A, B, A) was skipped while the standby held B.
    if (m.state != Member::State::kAwaitHashes || h.join != m.join) {
        ++totals_.hashes_stale;
        return;
    }
    if (h.slot != kNoSlot && h.slot < r.ckpt->max_sections()) {
        Member::Reported& rep = m.reported[h.slot];
        rep.generation = h.generation;
        rep.data_offset = h.data_offset;
        rep.capacity = h.capacity;
        rep.id_hash = h.id_hash;
        // Bounded by this checkpoint: no replica of its layout holds a section of more blocks than
        // checkpoint_size / block_size, nor more blocks than that over all its sections. A report
        // past that is refused (counted), so a peer cannot make this node allocate without bound.
        const std::uint32_t bs = std::max<std::uint32_t>(1, r.ckpt->attributes().block_size);
        const std::uint64_t limit = (r.ckpt->attributes().checkpoint_size + bs - 1) / bs;
        const std::uint64_t need = std::uint64_t{h.first_block} + h.count;
        const std::uint64_t grow = need > rep.hashes.size() ? need - rep.hashes.size() : 0;
        if (need > limit || m.reported_blocks + grow > limit) {
            ++totals_.hashes_refused;
        } else {
            if (grow) rep.hashes.resize(need, 0);
            m.reported_blocks += grow;
            for (std::uint32_t i = 0; i < h.count; ++i) rep.hashes[h.first_block + i] = hashes_at(h, i);
        }
    }
    if (f.header.flags & kFlagLastFragment) finish_resync(r, node, m);
}

void ActiveSide::finish_resync(Replica& r, std::uint16_t node, Member& m) {
    Checkpoint& c = *r.ckpt;
    // 1. Sections the standby holds that are not ours at the same place go first (they may
    //    occupy extents ours need). They are forgotten from the report: what stays in it is what
    //    the standby still holds when the resync reaches that slot.
    for (auto it = m.reported.begin(); it != m.reported.end();) {
        const auto& [slot, rep] = *it;
        auto st = c.section_state(slot);
        const bool same = st && st->data_offset == rep.data_offset && st->capacity == rep.capacity &&
                          XXH3_64bits(st->id.data(), st->id.size()) == rep.id_hash;
        if (same) {
            ++it;
            continue;
        }
        ReplEvent del;
        del.kind = ReplEvent::Kind::kDelete;
        del.slot = slot;
        del.generation = 0; // whatever it holds
        send_section(r, node, del);
        m.reported_blocks -= std::min<std::uint64_t>(m.reported_blocks, it->second.hashes.size());
        it = m.reported.erase(it);
    }
    // 2. Every section of ours, a budget per loop turn (pump()): install it, then the blocks whose
    //    hash differs, one whole commit per section (the standby applies it all or nothing).
    m.state = Member::State::kResyncing;
    m.resync_slot = 0;
    m.resync_sections = 0;
    m.resync_blocks = 0;
    ++totals_.resyncs_started;
    resync_step(r, node, m);
}

std::size_t ActiveSide::resync_step(Replica& r, std::uint16_t node, Member& m) {
    Checkpoint& c = *r.ckpt;
    const std::uint32_t bs = c.attributes().block_size;
    const std::vector<std::byte> zero(bs);
    const std::uint64_t zero_hash = XXH3_64bits(zero.data(), zero.size());
    const std::size_t window = out_.link().config().stream.window;
    std::uint64_t hashed = 0;
    std::size_t sent = 0;
    for (; m.resync_slot < c.max_sections(); ++m.resync_slot) {
        // The budget, checked between sections: the bytes hashed this turn, and the frames the
        // peer's queue already holds (the resync never queues more than a window ahead of the
        // link, so repeated resyncs cannot pile up in memory either).
        if (hashed >= kResyncTurnBudget || out_.link().backlog(node) >= window) return sent;
        const std::uint32_t slot = m.resync_slot;
        auto st = c.section_state(slot);
        auto rit = m.reported.find(slot);
        if (!st) {
            // Deleted here after the resync began, while the standby still holds it.
            if (rit != m.reported.end()) {
                ReplEvent del;
                del.kind = ReplEvent::Kind::kDelete;
                del.slot = slot;
                del.generation = 0;
                send_section(r, node, del);
            }
            continue;
        }
        ++m.resync_sections;
        ++sent;
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
        hashed += st->capacity;
        c.set_replicated_hashes(slot, ours);
        const bool same = rit != m.reported.end() && rit->second.data_offset == st->data_offset &&
                          rit->second.capacity == st->capacity &&
                          XXH3_64bits(st->id.data(), st->id.size()) == rit->second.id_hash;
        ReplEvent data;
        data.kind = ReplEvent::Kind::kCommit;
        data.slot = slot;
        data.generation = st->generation;
        data.seq = st->seq;
        data.size = st->size;
        std::uint64_t blocks_sent = 0;
        for (std::uint64_t b = 0; b < ours.size(); ++b) {
            // What the standby holds after the install: its own bytes when it is the same
            // section, zeroes when the install replaced it.
            const std::uint64_t theirs =
                same ? (b < rit->second.hashes.size() ? rit->second.hashes[b] : ~ours[b]) : zero_hash;
            if (theirs == ours[b]) {
                ++link_counts_.resync_blocks_same;
                continue;
            }
            ++blocks_sent;
            if (!data.runs.empty() && data.runs.back().offset + data.runs.back().length == b * bs)
                data.runs.back().length += bs;
            else
                data.runs.push_back({b * bs, bs});
        }
        send_commit(r, node, data, c.committed_bytes(slot), {});
        m.resync_blocks += blocks_sent;
        link_counts_.resync_blocks += blocks_sent;
        link_counts_.resync_bytes += blocks_sent * bs;
        if (rit != m.reported.end()) { // sent: its report is no longer needed
            m.reported_blocks -= std::min<std::uint64_t>(m.reported_blocks, rit->second.hashes.size());
            m.reported.erase(rit);
        }
    }
    ResyncDoneBody done{r.wire_id, m.resync_sections, m.resync_blocks};
    const std::size_t n = encode_resync_done_body(out_.body(), done);
    const std::uint64_t token = next_resync_token_++;
    resync_tokens_[token] = {&r, node};
    out_.queue(node, FrameType::kResyncDone, 0, c.epoch(), out_.body().first(n), Completion{kResyncDone, token});
    m.state = Member::State::kInSync; // later commits flow as DATA behind the resync
    // A new standby: commits captured from now on wait for it; it counts as in sync (and can be
    // promoted) once it acknowledged the RESYNC_DONE, behind everything sent before.
    m.required = true;
    m.done_pending = true;
    m.reported.clear();
    m.reported_blocks = 0;
    host_.replication_log("checkpoint '" + printable_name(c.name()) + "': " + node_str(node) + " resynced, " +
                          std::to_string(m.resync_blocks) + " blocks differed (" + std::to_string(m.resync_sections) +
                          " sections)");
    return sent + 1;
}

std::size_t ActiveSide::pump() {
    std::size_t n = 0;
    for (const auto& rp : replicas_) {
        Replica& r = *rp;
        if (r.ckpt->role() != shm::kRoleActive) continue;
        for (auto& [node, m] : r.active.members)
            if (m.state == Member::State::kResyncing) n += resync_step(r, node, m);
    }
    return n;
}

void ActiveSide::complete(std::uint64_t commit_id, std::uint16_t node) {
    auto it = pending_.find(commit_id);
    if (it == pending_.end()) return;
    Pending& p = it->second;
    p.waiting.erase(std::remove(p.waiting.begin(), p.waiting.end(), node), p.waiting.end());
    if (!p.waiting.empty()) return;
    Replica& r = *p.repl;
    if (p.directory) { // a directory change every required standby applied: nothing else to count
        pending_.erase(it);
        r.ckpt->publish_acks(); // a Synchronize waiting for it looks again
        return;
    }
    r.ckpt->set_acked(p.slot, p.generation, p.seq);
    for (const Pending::Other& o : p.group) r.ckpt->set_acked(o.slot, o.generation, o.seq);
    r.active.lag_commits -= 1;
    r.active.lag_bytes -= p.bytes;
    ++totals_.commits_acked;
    ++r.ckpt->counters().commits_acked;
    r.ckpt->counters().ack_latency.record(
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, clock_() - p.captured_ns)));
    pending_.erase(it);
}

void ActiveSide::on_completed(std::uint16_t node, Completion c) {
    if (c.kind == kCommitDone) {
        auto it = pending_.find(c.id);
        if (it == pending_.end()) return;
        Replica* r = it->second.repl;
        // Covered by a resync since it was sent (the node refused something): the resync's end,
        // not this acknowledgement, says the node holds it.
        if (auto m = r->active.members.find(node); m != r->active.members.end()) {
            const auto& barrier = m->second.barrier;
            if (std::find(barrier.begin(), barrier.end(), c.id) != barrier.end()) return;
        }
        complete(c.id, node);
        publish(*r);
    } else if (c.kind == kCommitsDone) {
        // A batch: the commits of one checkpoint coalesced into the frame, ids id .. id + extent.
        // Ids between them that were not in it belong to other checkpoints (filtered by replica),
        // or did not go to this node: it was not required (not waiting), or was being resynced
        // (behind its barrier: the resync's end completes them). Anything queued to the node in
        // between (a SECTION, an ANNOUNCE, a group's frames) would have closed the batch.
        auto first = pending_.find(c.id);
        if (first == pending_.end()) return; // its node no longer waits for any of them (dropped)
        Replica* r = first->second.repl;
        const auto m = r->active.members.find(node);
        const std::uint64_t last = c.id + c.extent;
        for (auto it = first; it != pending_.end() && it->first <= last;) {
            const std::uint64_t id = it->first;
            const Pending& p = it->second;
            ++it; // complete() may erase the entry
            if (p.repl != r || p.directory || !p.group.empty()) continue;
            if (m != r->active.members.end() &&
                std::find(m->second.barrier.begin(), m->second.barrier.end(), id) != m->second.barrier.end())
                continue;
            complete(id, node);
        }
        publish(*r);
    } else if (c.kind == kResyncDone) {
        auto it = resync_tokens_.find(c.id);
        if (it == resync_tokens_.end()) return;
        Replica& r = *it->second.first;
        resync_tokens_.erase(it);
        Member& m = r.active.members[node];
        m.synced = true;
        m.done_pending = false;
        m.refused_rejoins = 0;
        for (std::uint64_t id : std::exchange(m.barrier, {})) complete(id, node);
        ++link_counts_.resyncs;
        publish(r);
    }
}

void ActiveSide::drop_member(Replica& r, std::uint16_t node) {
    Member& m = r.active.members[node];
    // Out of the replica set: what is acknowledged from now on is not in it, so it is not a
    // holder of this active's state any more (a later join resyncs it from scratch).
    m.chosen = false;
    m.synced = false;
    m.required = false;
    m.barrier.clear();
    std::vector<std::uint64_t> ids;
    for (auto& [id, p] : pending_)
        if (p.repl == &r) ids.push_back(id);
    for (std::uint64_t id : ids) complete(id, node);
}

bool ActiveSide::on_refused(Replica& r, std::uint16_t node, const RefusedBody& b) {
    auto mit = r.active.members.find(node);
    if (mit == r.active.members.end()) return false;
    Member& m = mit->second;
    if (b.refused_link_seq < m.rejoin_from) return false; // sent before the resync already under way
    Checkpoint& c = *r.ckpt;
    const std::string what = std::string(b.refused_type == FrameType::kData ? "commit " + std::to_string(b.commit_seq)
                                         : b.refused_type == FrameType::kSection  ? "a section change"
                                         : b.refused_type == FrameType::kAnnounce ? "the checkpoint's announcement"
                                                                                  : "the end of a resync");
    if (b.reason == RefuseReason::kNoReplica || b.reason == RefuseReason::kOverLimit) {
        // It cannot hold the checkpoint at all: resyncing would only repeat the refusal. It counts
        // as down (sync commits fail at once, naming it) until it reconnects and is announced to
        // again, or until member_timeout_ms drops it from the required set.
        host_.replication_log("checkpoint '" + printable_name(c.name()) + "': " + node_str(node) + " refused " + what +
                              " (" + refuse_reason_name(b.reason) + "): treated as down until it reconnects");
        m.state = Member::State::kDown;
        m.down_since_ns = now_ns_;
        m.barrier.clear();
        publish(r);
        return false;
    }
    if (b.reason == RefuseReason::kStaleEpoch || b.reason == RefuseReason::kNotFromActive ||
        b.replica_epoch > c.epoch()) {
        // The node follows another active at this epoch or a newer one: this node was fenced.
        // Its unacknowledged commits fail (their writers see the role change), and the winner's
        // ANNOUNCE resyncs it.
        host_.replication_log("checkpoint '" + printable_name(c.name()) + "': " + node_str(node) + " refused " + what +
                              " (" + refuse_reason_name(b.reason) + ", its epoch " + std::to_string(b.replica_epoch) +
                              ", ours " + std::to_string(c.epoch()) +
                              "): another node is active, stepping down to standby");
        ++totals_.fenced;
        return true;
    }
    // The replica lost or could not take our state: resync it. Pending commits it has not
    // applied wait for that resync (join() puts them behind its barrier). One that refuses
    // resync after resync is broken: it counts as down (sync commits fail naming it) until it
    // reconnects, rather than resyncing in a loop.
    if (++m.refused_rejoins > kMaxRefusedRejoins) {
        host_.replication_log("checkpoint '" + printable_name(c.name()) + "': " + node_str(node) + " refused " + what +
                              " (" + refuse_reason_name(b.reason) + ") after " + std::to_string(kMaxRefusedRejoins) +
                              " resyncs: treated as down until it reconnects");
        m.state = Member::State::kDown;
        m.down_since_ns = now_ns_;
        m.barrier.clear();
        publish(r);
        return false;
    }
    host_.replication_log("checkpoint '" + printable_name(c.name()) + "': " + node_str(node) + " refused " + what +
                          " (" + refuse_reason_name(b.reason) + "): resyncing it");
    join(r, node, m.required);
    publish(r);
    return false;
}

void ActiveSide::publish(Replica& r) {
    std::uint32_t in_sync = 0, blocked = 0;
    for (const auto& [node, m] : r.active.members) {
        if (!m.required) continue;
        if (in_sync_member(m)) ++in_sync;
        if (m.state == Member::State::kDown && blocked == 0) blocked = node;
    }
    r.ckpt->publish_lag(r.active.lag_commits, r.active.lag_bytes, in_sync, blocked);
    r.ckpt->publish_acks();
}

void ActiveSide::tick(std::int64_t now_ns) {
    now_ns_ = now_ns;
    const std::int64_t limit = std::int64_t{out_.link().config().member_timeout_ms} * 1'000'000;
    for (const auto& rp : replicas_) {
        Replica& r = *rp;
        if (r.ckpt->role() != shm::kRoleActive) continue;
        if (fencer_) {
            for (auto& [node, m] : r.active.members) {
                if (!m.required || m.state != Member::State::kDown || now_ns < m.fence_not_before_ns) continue;
                std::string why;
                switch (fencer_->state(node, &why)) {
                case PeerFencer::State::kFenced:
                    host_.replication_log("checkpoint '" + printable_name(r.ckpt->name()) + "': " + node_str(node) +
                                          " is fenced (it cannot be promoted): acknowledging without it until it "
                                          "rejoins");
                    drop_member(r, node);
                    fill_replica_set(r, false);
                    break;
                case PeerFencer::State::kRunning:
                    break;
                case PeerFencer::State::kIdle:
                case PeerFencer::State::kFailed:
                    fencer_->start(node, now_ns); // retried after a failure; sync commits keep failing
                    break;
                }
            }
        } else if (limit > 0) {
            for (auto& [node, m] : r.active.members) {
                if (!m.required || m.state != Member::State::kDown || now_ns - m.down_since_ns < limit) continue;
                host_.replication_log("checkpoint '" + printable_name(r.ckpt->name()) + "': " + node_str(node) +
                                      " down for " + std::to_string(out_.link().config().member_timeout_ms) +
                                      " ms: no longer required for acknowledgements until it rejoins");
                drop_member(r, node);
                fill_replica_set(r, false);
            }
        }
        publish(r);
    }
}

std::vector<ActiveSide::MemberView> ActiveSide::members_of(const Replica& r) const {
    std::vector<MemberView> v;
    for (const auto& [node, m] : r.active.members) {
        if (!m.required) continue;
        std::uint64_t n = 0;
        for (const auto& [id, p] : pending_)
            if (p.repl == &r && !p.directory && std::find(p.waiting.begin(), p.waiting.end(), node) != p.waiting.end())
                ++n;
        v.push_back({node,
                     in_sync_member(m)                 ? "in-sync"
                     : m.state == Member::State::kDown ? "down"
                                                       : "resync", // awaiting hashes, or being sent
                     n});
    }
    return v;
}

void ActiveSide::refresh_lag_figures() {
    for (const auto& rp : replicas_) {
        Replica& r = *rp;
        shm::CheckpointStats& f = r.ckpt->counters();
        std::fill(std::begin(f.peers), std::end(f.peers), shm::PeerLag{});
        f.peer_count = 0;
        if (r.ckpt->role() != shm::kRoleActive) continue;
        for (const auto& [node, m] : r.active.members) {
            if (!m.required || f.peer_count == shm::kStatsMaxPeers) continue;
            shm::PeerLag& l = f.peers[f.peer_count++];
            l = {};
            l.node_id = node;
            l.state = in_sync_member(m)                 ? shm::kMemberInSync
                      : m.state == Member::State::kDown ? shm::kMemberDown
                                                        : shm::kMemberResync;
        }
    }
    // pending_ is in commit order, so the first commit a standby waits for is its oldest.
    for (const auto& [id, p] : pending_) {
        if (p.directory) continue;
        shm::CheckpointStats& f = p.repl->ckpt->counters();
        for (std::uint16_t node : p.waiting) {
            for (std::uint32_t i = 0; i < f.peer_count; ++i) {
                shm::PeerLag& l = f.peers[i];
                if (l.node_id != node) continue;
                ++l.commits;
                l.bytes += p.bytes;
                if (l.oldest_mono_ns == 0) l.oldest_mono_ns = p.captured_ns;
                break;
            }
        }
    }
}

void ActiveSide::on_peer_up(std::uint16_t node) {
    now_ns_ = clock_();
    if (fencer_) fencer_->reset(node);
    for (const auto& r : replicas_) {
        if (r->ckpt->role() != shm::kRoleActive) continue;
        // A returning member of the replica set, or a new standby while the set is short of what
        // `replicas` wants: announce, then resync by block hashes. Otherwise it holds no replica.
        if (r->active.members[node].chosen)
            join(*r, node, false);
        else
            fill_replica_set(*r, false);
        publish(*r);
    }
}

void ActiveSide::on_peer_down(std::uint16_t node, const std::vector<Completion>& abandoned) {
    now_ns_ = clock_();
    for (const Completion& c : abandoned)
        if (c.kind == kResyncDone) resync_tokens_.erase(c.id);
    for (const auto& rp : replicas_) {
        Replica& r = *rp;
        if (r.ckpt->role() != shm::kRoleActive) continue;
        auto it = r.active.members.find(node);
        if (it == r.active.members.end()) continue;
        Member& m = it->second;
        if (m.state != Member::State::kDown) m.down_since_ns = now_ns_;
        m.state = Member::State::kDown;
        m.reported.clear();
        m.reported_blocks = 0;
        m.barrier.clear(); // the pending commits still name it: the next join covers them
        // One that never held this active's state (it vanished during its first resync, as a
        // dead former active does right after a promotion) cannot lose acknowledged commits:
        // nothing waits for it. One that did stays required until it returns or times out.
        if (!m.synced) {
            drop_member(r, node);
            fill_replica_set(r, false);
        }
        publish(r);
    }
}

} // namespace ckpt::engine
