// The node-local commit path of one checkpoint (engine poll loop; hot): the doorbells a commit
// rings are drained, each announced section's dirty blocks are copied into the shadow (the
// committed copy), hashed on a replicating active, and handed to replication; a section whose
// writer died mid-write is put back to its last commit (or marked corrupted in weak mode); a
// capture batch ends with one wake-up of the sync committers and subscribers.
#include "commit/commit_path.hpp"

#include "ckpt/shm/ack_wait.hpp"
#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/dirty_bitmap.hpp"
#include "ckpt/shm/doorbell.hpp"
#include "ckpt/shm/local_stage.hpp"
#include "ckpt/shm/section_group.hpp"
#include "ckpt/shm/section_lock.hpp"
#include "commit/block_hasher.hpp"
#include "store/checkpoint.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>

namespace ckpt::engine {

using namespace ckpt::shm;

CommitPath::CommitPath(Checkpoint& c) : c_(c) {}
CommitPath::~CommitPath() = default;

void CommitPath::clear_dirty(std::uint64_t first_block, std::uint64_t count) {
    dirty_bitmap::clear(c_.data_.dirty_words(), first_block, count);
}

bool CommitPath::capture(std::uint32_t slot) {
    Checkpoint::Slot& sl = c_.slots_[slot];
    if (!sl.used) {
        ++c_.counters().spurious_doorbells;
        return false;
    }
    SectionControl& ctl = c_.data_.control(slot);
    // A commit its writer staged (local_stage.hpp) comes first: it is older than the live bytes,
    // and its writer may hold the lock for its next transaction meanwhile.
    const bool staged = capture_staged(slot);
    const std::uint64_t lock = section_lock::load(ctl);
    if (lock_held(lock) || lock_seq(lock) == sl.captured_seq) {
        if (!staged) ++c_.counters().spurious_doorbells; // mid-transaction (its commit rings again) or nothing new
        return staged;
    }
    if (lock_seq(lock) < sl.captured_seq || lock_owner(lock) != 0) {
        c_.note_damage("section slot " + std::to_string(slot) +
                       " lock word moved backwards or names an owner while free");
        // Treat as a dead writer's section; the new sequence goes past both, never backwards.
        recover(slot, make_lock(std::max(lock_seq(lock), sl.captured_seq), 0));
        return false;
    }
    if (section_group::tag_of(ctl) != 0) return capture_group(slot, lock);
    return capture_one(slot, lock, nullptr);
}

const SectionControl* CommitPath::member_control(std::uint32_t slot) const {
    return slot < c_.attrs_.max_sections && c_.slots_[slot].used ? &c_.data_.control(slot) : nullptr;
}

bool CommitPath::capture_group(std::uint32_t slot, std::uint64_t lock) {
    members_.clear();
    const std::uint32_t max = c_.attrs_.max_sections;
    const auto state = section_group::walk(
        slot, lock, max, [this](std::uint32_t s) { return member_control(s); },
        [&](std::uint32_t s, std::uint64_t l) {
            members_.push_back({s, l});
        });
    if (state == section_group::State::kOpen) {
        ++c_.counters().spurious_doorbells; // the writer rings every member once the last is published
        return false;
    }
    if (state != section_group::State::kComplete) {
        // A ring that does not close: a member captured and written again since (an engine restart
        // in the middle of this group's capture), or words a writer scribbled. The commit is whole
        // on its own; capture it alone.
        return capture_one(slot, lock, nullptr);
    }
    // Complete: every member now, as one replication event. A member captured already (an engine
    // restart in the middle of the capture) or damaged is skipped; capture_one validates each.
    std::sort(members_.begin(), members_.end(), [](const auto& a, const auto& b) { return a.slot < b.slot; });
    group_events_.clear();
    bool any = false;
    for (const GroupMember& m : members_) {
        const Checkpoint::Slot& ms = c_.slots_[m.slot];
        if (lock_seq(m.lock) == ms.captured_seq || lock_seq(m.lock) < ms.captured_seq || lock_owner(m.lock) != 0)
            continue;
        any |= capture_staged(m.slot); // an older commit of the member, alone (never a group's: not staged)
        any |= capture_one(m.slot, m.lock, &group_events_);
    }
    if (group_events_.size() == 1) {
        c_.emit(std::move(group_events_.front()));
    } else if (!group_events_.empty()) {
        ReplEvent ev;
        ev.kind = ReplEvent::Kind::kGroup;
        ev.members = std::move(group_events_);
        c_.emit(std::move(ev));
    }
    group_events_.clear();
    return any;
}

std::size_t CommitPath::recover_open_groups(std::uint32_t writer) {
    std::size_t n = 0;
    const std::uint32_t max = c_.attrs_.max_sections;
    for (std::size_t i = 0; i < c_.used_list_.size(); ++i) {
        const std::uint32_t s = c_.used_list_[i];
        SectionControl& ctl = c_.data_.control(s);
        const std::uint64_t lock = section_lock::load(ctl);
        const std::uint64_t tag = section_group::tag_of(ctl);
        // From each section the dead writer still holds, as a member of one of its groups.
        if (!lock_held(lock) || lock_owner(lock) != writer + 1 || tag == 0 || section_group::tag_writer(tag) != writer)
            continue;
        members_.clear();
        // The walk starts at a held member: its lock is given as held, so the group reads open.
        (void)section_group::walk(
            s, lock, max, [this](std::uint32_t m) { return member_control(m); },
            [&](std::uint32_t m, std::uint64_t l) {
                members_.push_back({m, l});
            });
        // Even a ring that does not close: every member reached is the dead writer's, published
        // and not captured (the engine never captures an open group's member).
        for (const GroupMember& m : members_) {
            const Checkpoint::Slot& ms = c_.slots_[m.slot];
            if (lock_held(m.lock) || lock_owner(m.lock) != 0 || lock_seq(m.lock) <= ms.captured_seq) continue;
            recover(m.slot, m.lock);
            ++n;
        }
    }
    return n;
}

bool CommitPath::claim_live(std::uint32_t slot, SectionControl& ctl, std::uint64_t lock) {
    const std::uint32_t word = local_stage::load(ctl);
    if (local_stage::names_record(word)) {
        // Staged since capture() looked: that writer holds (or held) the lock for the next
        // transaction, so `lock` is stale. Capture the staged commit; the live one rings again.
        capture_staged(slot);
        return false;
    }
    // A writer holding the lock is copying this commit into a record: leave it to it. With the
    // lock free, a 2 is a writer that gave up and a next one that claimed in between (it leaves 2
    // by CAS, finds it taken, gives the lock back and waits: no damage), or a scribble: taken over.
    if (word == kStageWriter && lock_held(section_lock::load(ctl))) return false;
    if (!local_stage::claim(ctl, word, kStageEngine)) return false;         // a writer moved the word meanwhile
    if (word != kStageFree && word != kStageEngine && word != kStageWriter) // 1: ours, from before a restart
        stage_damage("section slot " + std::to_string(slot) + " stage word " + std::to_string(word) + " is invalid");
    if (lock_seq(lock) <= c_.slots_[slot].captured_seq) { // captured meanwhile (from a record)
        local_stage::release(ctl);
        return false;
    }
    return true;
}

void CommitPath::stage_damage(const std::string& what) {
    ++c_.counters().stage_invalid;
    c_.note_damage(what);
}

bool CommitPath::capture_staged(std::uint32_t slot) {
    SectionControl& ctl = c_.data_.control(slot);
    const std::uint32_t word = local_stage::load(ctl);
    if (!local_stage::names_record(word)) return false;
    if (!c_.data_.has_stage()) { // the object lost its stage (a client cut it to data_size)
        stage_damage("section slot " + std::to_string(slot) + " stage word names a record, but DATA has no stage");
        local_stage::claim(ctl, word, kStageFree);
        return false;
    }
    Checkpoint::Slot& sl = c_.slots_[slot];
    const std::uint32_t r = word - kStagedBase;
    StageRecord& rec = c_.data_.stage_record(r);
    // Copy the record's words once (acquire on the state: the writer's release publishes them),
    // then judge the copy against the engine's own bookkeeping.
    const std::uint32_t state = load_acquire(rec.state);
    const std::uint32_t rslot = load_relaxed(rec.slot);
    const std::uint64_t gen = load_relaxed(rec.generation), seq = load_relaxed(rec.seq), size = load_relaxed(rec.size),
                        first = load_relaxed(rec.first_block), blocks = load_relaxed(rec.blocks);
    const std::uint32_t flags = load_relaxed(rec.commit_flags);
    const std::uint32_t bs = c_.attrs_.block_size;
    const std::uint64_t count = sl.capacity / bs;
    const std::uint64_t live = lock_seq(section_lock::load(ctl));
    const bool ours = state == kRecordReady && rslot == slot && gen == sl.generation;
    if (ours && seq == sl.captured_seq) {
        // Captured already: an engine that died between the capture and freeing the record.
        local_stage::free_record_if(rec, kRecordReady);
        local_stage::claim(ctl, word, kStageFree);
        return false;
    }
    const char* bad = nullptr;
    if (state != kRecordReady)
        bad = "is not complete";
    else if (!ours)
        bad = "belongs to another section";
    else if ((seq & 1) != 0 || seq < sl.captured_seq || seq >= live)
        bad = "holds no commit between the captured and the live one";
    else if (blocks == 0 || first >= count || blocks > count - first || blocks * bs > c_.data_.stage_record_bytes())
        bad = "holds a block range outside the section or the record";
    if (bad) {
        // The record is given back only if it is this section's (another section's, or one being
        // filled, is its owner's to finish); its commit is taken with the next live capture.
        stage_damage("stage record " + std::to_string(r) + " named by section slot " + std::to_string(slot) + " " +
                     bad + "; its commit is taken with the next one");
        if (ours) local_stage::free_record_if(rec, kRecordReady);
        local_stage::claim(ctl, word, kStageFree);
        return false;
    }
    const std::byte* src = c_.data_.stage_bytes(r);
    std::byte* shadow = c_.shadow_area();
    changed_.clear();
    const std::uint64_t base = sl.offset / bs + first;
    for (std::uint64_t i = 0; i < blocks; ++i) {
        const std::uint64_t block = base + i;
        const std::uint64_t off = block * bs;
        if (!c_.replicating_)
            std::memcpy(shadow + off, src + i * bs, bs);
        else if (auto h = copy_hash_block(shadow + off, src + i * bs, bs, c_.block_hash_[block]))
            changed_.push_back({block, *h});
    }
    copied_total_ += blocks * bs;
    record_capture(slot, seq, size, flags, blocks * bs, nullptr, false);
    // Then the record, then the word: an engine killed in between finds a record of a commit it
    // captured (above: given back quietly), and a writer that stages its next commit finds this
    // one captured (it looks at captured_seq after its own claim).
    local_stage::free_record_if(rec, kRecordReady);
    local_stage::claim(ctl, word, kStageFree);
    ++c_.counters().staged_commits;
    return true;
}

void CommitPath::drop_stage(std::uint32_t slot) {
    SectionControl& ctl = c_.data_.control(slot);
    const std::uint32_t word = local_stage::load(ctl);
    if (local_stage::names_record(word) && c_.data_.has_stage()) {
        StageRecord& rec = c_.data_.stage_record(word - kStagedBase);
        if (load_relaxed(rec.slot) == slot) local_stage::free_record_if(rec, kRecordReady);
    }
    local_stage::release(ctl);
}

void CommitPath::sweep_stage(const std::function<bool(std::uint32_t writer)>& alive) {
    if (!c_.data_.has_stage()) return;
    for (std::uint32_t r = 0; r < kStageRecords; ++r) {
        StageRecord& rec = c_.data_.stage_record(r);
        const std::uint32_t state = load_acquire(rec.state);
        if (state == kRecordFree) continue;
        if (state != kRecordReady) { // being filled: by a writer still alive, or never finished
            const std::uint32_t w = local_stage::filler_of(state);
            if (w == kMaxWriters || !alive(w)) local_stage::free_record_if(rec, state);
            continue;
        }
        // Ready: kept while its section's word names it, or while a live writer holding that
        // section's lock is about to name it (its word still says kStageWriter).
        const std::uint32_t slot = load_relaxed(rec.slot);
        if (slot < c_.attrs_.max_sections && c_.slots_[slot].used) {
            const SectionControl& ctl = c_.data_.control(slot);
            const std::uint32_t word = local_stage::load(ctl);
            const std::uint64_t lock = section_lock::load(ctl);
            if (word == kStagedBase + r) continue;
            if (word == kStageWriter && lock_held(lock) && lock_owner(lock) >= 1 && lock_owner(lock) <= kMaxWriters &&
                alive(lock_owner(lock) - 1))
                continue;
        }
        local_stage::free_record_if(rec, kRecordReady);
    }
}

void CommitPath::settle_stage(std::uint32_t slot, std::uint64_t lock) {
    SectionControl& ctl = c_.data_.control(slot);
    const std::uint32_t word = local_stage::load(ctl);
    if (load_acquire(c_.meta_.header().role) == kRoleStandby) {
        // A stale writer left on a demoted node: what it staged was never replicated, and the
        // shadow is the replica applier's. Its stage goes, not into the shadow.
        drop_stage(slot);
        return;
    }
    if (local_stage::names_record(word)) {
        capture_staged(slot); // the previous commit, from its record: the rollback restores to it
        return;
    }
    if (word != kStageWriter) {
        if (word != kStageFree) local_stage::release(ctl); // our own claim from before a restart, or damage
        return;
    }
    // The holder died (or aborted) while copying its previous commit into a record: it had not
    // stored a byte yet, so the live bytes are that commit. Capture them as it; the record it
    // took goes back with its writer slot (sweep_stage).
    Checkpoint::Slot& sl = c_.slots_[slot];
    const std::uint64_t prev = lock_seq(lock) - 1;
    if (lock_held(lock) && prev > sl.captured_seq && (prev & 1) == 0) {
        local_stage::release(ctl, kStageEngine);
        capture_live(slot, make_lock(prev, 0), nullptr);
    }
    local_stage::release(ctl);
}

bool CommitPath::capture_one(std::uint32_t slot, std::uint64_t lock, std::vector<ReplEvent>* group) {
    if (!c_.data_.has_stage()) return capture_live(slot, lock, group); // no writer can stage: no claim
    SectionControl& ctl = c_.data_.control(slot);
    if (!claim_live(slot, ctl, lock)) return false;
    const bool whole = capture_live(slot, lock, group);
    local_stage::release(ctl);
    return whole;
}

bool CommitPath::capture_live(std::uint32_t slot, std::uint64_t lock, std::vector<ReplEvent>* group) {
    Checkpoint::Slot& sl = c_.slots_[slot];
    SectionControl& ctl = c_.data_.control(slot);
    const std::uint64_t size = load_relaxed(ctl.size);
    const std::uint32_t flags = load_relaxed(ctl.commit_flags);
    const std::uint32_t bs = c_.attrs_.block_size;
    const std::uint64_t first = sl.offset / bs, count = sl.capacity / bs;
    // Scan only the blocks the writer says it marked (validated; else the whole section).
    const dirty_bitmap::Range scan = dirty_bitmap::scan_range(ctl, count);
    std::byte* live = c_.data_.area();
    std::byte* shadow = c_.shadow_area();
    std::uint64_t* dirty = c_.data_.dirty_words();
    std::uint64_t copied = 0;
    // Replication: the hash of each copied block that the replicas do not hold yet, kept only if
    // the commit turns out whole.
    changed_.clear();
    auto take_block = [&](std::uint64_t block) {
        const std::uint64_t off = block * bs;
        if (!c_.replicating_)
            std::memcpy(shadow + off, live + off, bs);
        else if (auto h = copy_hash_block(shadow + off, live + off, bs, c_.block_hash_[block]))
            changed_.push_back({block, *h});
    };
    // Copy the dirty blocks into the shadow. The writer cannot start a new transaction on this
    // section until captured_seq catches up, so the blocks are stable. take copies first and
    // clears after: an engine killed in between copies these blocks again after the restart.
    copied = bs * dirty_bitmap::take(dirty, first + scan.first, scan.count, take_block);
    if (copied == 0) { // a writer that marked nothing: take the whole section, never lose its commit
        if (c_.replicating_)
            for (std::uint64_t b = first; b < first + count; ++b) take_block(b);
        else
            std::memcpy(shadow + sl.offset, live + sl.offset, sl.capacity); // one call, not one per block
        copied = sl.capacity;
    }
    copied_total_ += copied;
    // Unchanged, or taken meanwhile by a writer for the next transaction: that writer claims the
    // stage word before its first store, which waits for ours (local_stage.hpp), so the copy is whole.
    fence_acquire();
    const std::uint64_t now = load_relaxed(ctl.lock);
    const bool next_tx =
        lock_held(now) && lock_seq(now) == lock_seq(lock) + 1 && lock_owner(now) != 0 && lock_owner(now) <= kMaxWriters;
    if (now != lock && !next_tx) {
        // A writer that did not wait for the capture wrote meanwhile: the copy may be torn. Its
        // own commit rings the doorbell again; recapture the whole section then.
        c_.note_damage("a writer of section slot " + std::to_string(slot) +
                       " wrote before its previous commit was captured");
        dirty_bitmap::mark(dirty, first, count);
        dirty_bitmap::publish_range(ctl, 0, count - 1); // and the range must cover all of it
        return false;
    }
    record_capture(slot, lock_seq(lock), size, flags, copied, group, true);
    return true;
}

void CommitPath::record_capture(std::uint32_t slot, std::uint64_t seq, std::uint64_t committed, std::uint32_t flags,
                                std::uint64_t copied, std::vector<ReplEvent>* group, bool live) {
    Checkpoint::Slot& sl = c_.slots_[slot];
    SectionControl& ctl = c_.data_.control(slot);
    const std::uint32_t bs = c_.attrs_.block_size;
    if (committed > sl.capacity) { // the writer left an impossible size: keep the bytes, clamp, and say so
        c_.note_damage("section slot " + std::to_string(slot) + " size word " + std::to_string(committed) +
                       " exceeds capacity");
        committed = sl.capacity;
    }
    ShadowEntry& se = c_.shadow_entry(slot);
    se.size = committed;
    se.seq = seq;
    sl.captured_seq = seq;
    sl.committed_size = committed;
    SectionDesc& d = c_.meta_.mutable_desc(slot);
    if ((flags & kCommitOverwrite) && load_relaxed(d.state) == kSectionCorrupted) {
        c_.begin_dir_edit();
        store_relaxed(d.state, kSectionValid); // an overwrite makes a corrupted section readable again
        c_.end_dir_edit();
    }
    store_relaxed(d.last_update_ns, now_realtime_ns());
    store_release(d.committed_size, committed);
    if (c_.replicating_) {
        ReplEvent ev;
        ev.kind = ReplEvent::Kind::kCommit;
        ev.slot = slot;
        ev.generation = sl.generation;
        ev.seq = sl.captured_seq;
        ev.size = committed;
        ev.overwrite = (flags & kCommitOverwrite) != 0;
        for (auto [block, h] : changed_) { // ascending: coalesce neighbours into runs
            c_.block_hash_[block] = h;
            const std::uint64_t off = block * bs - sl.offset;
            if (!ev.runs.empty() && ev.runs.back().offset + ev.runs.back().length == off)
                ev.runs.back().length += bs;
            else
                ev.runs.push_back({off, bs});
        }
        if (group)
            group->push_back(std::move(ev));
        else
            c_.emit(std::move(ev));
    } else if (!c_.hold_acks_) {
        // No replica is required: the shadow copy is the acknowledgement.
        store_release(d.acked_seq, sl.captured_seq);
    }
    // Captured: the tag has done its work (the next writer waits for captured_seq). Not for a
    // staged commit: the tag in the control words then is the live transaction's (a group's).
    if (live) section_group::leave(ctl);
    // Published after the replicator counted the commit in the lag (emit above): a writer that
    // sees its previous commit captured then also sees it in repl_lag_commits, so its async
    // window check is exact. (Published before, a single writer could run one commit past
    // async_window.)
    store_release(d.captured_seq, sl.captured_seq);
    c_.record_change(slot);
    ++c_.counters().commits;
    c_.counters().dirty_bytes += copied;
}

void CommitPath::recover(std::uint32_t slot, std::uint64_t lock, bool writer_died) {
    Checkpoint::Slot& sl = c_.slots_[slot];
    SectionControl& ctl = c_.data_.control(slot);
    // The shadow must hold the commit the holder started from: one it staged (or was staging) is
    // captured first, so the rollback restores it and not the one before.
    settle_stage(slot, lock);
    const std::uint64_t seq = section_lock::rollback_seq(lock);
    const std::uint32_t bs = c_.attrs_.block_size;
    if (writer_died && c_.attrs_.update_mode() == UpdateMode::kAsyncWeak) {
        // Weak mode (SA_CKPT_WR_ACTIVE_REPLICA_WEAK): no rollback; the section reads as corrupted
        // until an overwrite.
        c_.mark_corrupted(slot, "");
    } else {
        // Put back the last committed state: the shadow holds it, because a writer only starts a
        // transaction after its previous commit was captured.
        std::memcpy(c_.data_.area() + sl.offset, c_.shadow_area() + sl.offset, sl.capacity);
        ++c_.counters().rollbacks;
    }
    clear_dirty(sl.offset / bs, sl.capacity / bs);
    store_relaxed(ctl.size, sl.committed_size);
    store_relaxed(ctl.commit_flags, 0u);
    dirty_bitmap::reset_range(ctl);
    section_group::leave(ctl);
    ShadowEntry& se = c_.shadow_entry(slot);
    se.seq = seq;
    sl.captured_seq = seq;
    SectionDesc& d = c_.meta_.mutable_desc(slot);
    store_release(d.captured_seq, seq);
    if (c_.replicating_) { // the replicas learn the new sequence; no byte changed for them
        ReplEvent ev;
        ev.kind = ReplEvent::Kind::kCommit;
        ev.slot = slot;
        ev.generation = sl.generation;
        ev.seq = seq;
        ev.size = sl.committed_size;
        c_.emit(std::move(ev));
    } else if (!c_.hold_acks_) {
        store_release(d.acked_seq, seq);
    }
    section_lock::publish(ctl, seq);
    c_.record_change(slot);
}

std::size_t CommitPath::drain_doorbells(std::uint64_t budget_bytes) {
    // The word counts come from the engine's own layout, never from the application-writable header.
    const doorbell::Bells bells{&c_.data_.header(), c_.data_.summary_words(), c_.data_.pending_words(),
                                c_.layout_.summary_words, c_.layout_.pending_words};
    std::size_t n = 0;
    const std::uint64_t start = copied_total_;
    // When the turn's budget is spent, drain rings again what is left; the next turn takes it.
    const bool cut = doorbell::drain(
        bells, [&] { return copied_total_ - start < budget_bytes; },
        [&](std::uint32_t slot) {
            if (slot >= c_.attrs_.max_sections)
                c_.note_damage("doorbell bit beyond max_sections");
            else
                n += capture(slot) ? 1 : 0;
        },
        [&](const char* what) { c_.note_damage(what); });
    if (cut) ++c_.counters().capture_budget_cuts;
    return n;
}

std::size_t CommitPath::scan_all() {
    std::size_t n = 0;
    // Sections in use only: a checkpoint with a million slots and a few sections costs a few loads.
    for (std::size_t i = 0; i < c_.used_list_.size(); ++i) {
        const std::uint32_t s = c_.used_list_[i];
        ++c_.counters().timer_slots_visited;
        const SectionControl& ctl = c_.data_.control(s);
        std::uint64_t lock = section_lock::peek(ctl);
        if ((!lock_held(lock) && lock_seq(lock) != c_.slots_[s].captured_seq) ||
            local_stage::names_record(load_relaxed(ctl.stage)))
            n += capture(s) ? 1 : 0;
    }
    return n;
}

void CommitPath::publish_acks() {
    if (!c_.batch_dirty_) return;
    c_.batch_dirty_ = false;
    // Wakes sync committers only if one registered (an application-writable hint; they also
    // sleep with a timeout).
    (void)ack_wait::publish(c_.meta_.mutable_header(), c_.data_.header());
    for (int fd : c_.subscribers) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto r = ::write(fd, &one, sizeof one); // EAGAIN: already signalled
    }
}

} // namespace ckpt::engine
